"""A fake Xero for tests: FastAPI on 127.0.0.1, following Xero's documented API for
what Tria uses, driven by the real xero-python SDK.

- Identity: GET /identity/connect/authorize (consent: redirects to redirect_uri with a
  code), POST /connect/token (authorization_code and refresh_token grants; refresh
  tokens rotate and a used one is refused with invalid_grant), GET /connections.
- Accounting (/api.xro/2.0): Contacts GET (where=ContactNumber=="...") and PUT;
  Invoices PUT and POST (create), GET /Invoices/{id}, POST /Invoices/{id} (update,
  e.g. Status VOIDED). A repeated Idempotency-Key replays the first answer.
- Limits per tenant: 60 calls in any 60 s and 5 at once, else 429 with Retry-After and
  X-Rate-Limit-Problem; X-MinLimit-Remaining, X-DayLimit-Remaining and
  X-AppMinLimit-Remaining on every answer.
- 401 for a missing or expired access token; 400 ValidationException with
  Elements[].ValidationErrors for an unknown account code, tax type, contact or a
  duplicate invoice number.
- Fault injection: `faults` is a function (method, path) -> Fault | None consulted
  for each accounting call: a status to answer instead (before or after the request
  took effect), or a delay (the client times out; the request still takes effect).

`ledger` holds every invoice made; tests count duplicates and missing ones there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlencode

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from tests.support.servers import free_port

TENANT_ID = "9d2e1c4a-0000-4000-8000-000000000001"
CLIENT_ID = "TRIA-TEST-CLIENT"
CLIENT_SECRET = "tria-test-secret"
ACCOUNT_CODES = {"200"}
TAX_TYPES = {"OUTPUT2", "NONE"}


@dataclass
class Fault:
    status: int = 0  # answer this status
    after: bool = False  # ... after the request took effect (the client never learns)
    delay: float = 0.0  # answer late (after the request took effect)
    retry_after: int = 1


@dataclass
class FakeXero:
    access_ttl: float = 1800
    per_minute: int = 60
    concurrent: int = 5
    faults: object = None  # callable(method, path) -> Fault | None
    latency: float = 0.0  # seconds every accounting call takes
    contacts: dict = field(default_factory=dict)  # ContactID -> contact
    ledger: dict = field(default_factory=dict)  # InvoiceID -> invoice
    idempotent: dict = field(default_factory=dict)  # key -> (status, body)
    access_tokens: dict = field(default_factory=dict)  # token -> expires_at
    refresh_tokens: set = field(default_factory=set)
    codes: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)  # (time, method, path, status)
    token_requests: list = field(default_factory=list)
    max_concurrent_seen: int = 0
    rate_limited: int = 0
    _window: deque = field(default_factory=deque)
    _in_flight: int = 0

    def issue_refresh_token(self) -> str:
        token = "rt-" + secrets.token_hex(8)
        self.refresh_tokens.add(token)
        return token

    def expire_access_tokens(self) -> None:
        for token in self.access_tokens:
            self.access_tokens[token] = 0

    def references(self) -> list[str]:
        return [i["Reference"] for i in self.ledger.values()]


def ms_date(value: date) -> str:
    stamp = int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    return f"/Date({stamp}+0000)/"


def parse_date(value: str) -> date:
    if value.startswith("/Date("):
        return datetime.fromtimestamp(int(value[6:].split("+")[0].split(")")[0]) / 1000, tz=timezone.utc).date()
    return date.fromisoformat(value[:10])


def validation_error(messages: list[str], element: dict) -> JSONResponse:
    return JSONResponse(
        status_code=400,
        content={
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{**element, "ValidationErrors": [{"Message": m} for m in messages]}],
        },
    )


def make_app(state: FakeXero) -> FastAPI:
    app = FastAPI()

    def envelope(**items) -> dict:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "Tria tests",
                "DateTimeUTC": f"/Date({int(time.time() * 1000)})/", **items}

    @app.get("/identity/connect/authorize")
    async def authorize(request: Request):
        q = request.query_params
        code = "code-" + secrets.token_hex(6)
        state.codes[code] = q["redirect_uri"]
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state'], 'scope': q['scope']})}", 302)

    @app.post("/connect/token")
    async def token(request: Request):
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        auth = request.headers.get("authorization", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if auth.startswith("Basic "):
            client_id, client_secret = base64.b64decode(auth[6:]).decode().split(":", 1)
        state.token_requests.append(form.get("grant_type"))
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if form.get("grant_type") == "authorization_code":
            if state.codes.pop(form.get("code"), None) != form.get("redirect_uri"):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in state.refresh_tokens:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            state.refresh_tokens.discard(form.get("refresh_token"))  # rotation
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        access = "at-" + secrets.token_hex(8)
        state.access_tokens[access] = time.time() + state.access_ttl
        return {
            "access_token": access, "expires_in": int(state.access_ttl), "token_type": "Bearer",
            "refresh_token": state.issue_refresh_token(),
            "scope": "openid profile email accounting.transactions accounting.contacts offline_access",
        }

    @app.get("/connections")
    async def connections(request: Request):
        if (denied := auth_problem(request)) is not None:
            return denied
        return [{"id": str(uuid.uuid4()), "tenantId": TENANT_ID, "tenantType": "ORGANISATION", "tenantName": "Tria Demo"}]

    def auth_problem(request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        expires = state.access_tokens.get(header.removeprefix("Bearer "))
        if expires is None or expires < time.time():
            return JSONResponse(
                {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired"},
                status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return None

    def limit_headers() -> dict:
        left = max(0, state.per_minute - len(state._window))
        return {"X-MinLimit-Remaining": str(left), "X-DayLimit-Remaining": "4999", "X-AppMinLimit-Remaining": "9999"}

    @app.middleware("http")
    async def accounting_rules(request: Request, call_next):
        if not request.url.path.startswith("/api.xro/2.0/"):
            return await call_next(request)
        if (denied := auth_problem(request)) is not None:
            state.calls.append((time.time(), request.method, request.url.path, 401))
            return denied
        if request.headers.get("xero-tenant-id") != TENANT_ID:
            return JSONResponse({"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"}, status_code=403)
        now = time.time()
        while state._window and state._window[0] <= now - 60:
            state._window.popleft()
        problem = "minute" if len(state._window) >= state.per_minute else "concurrent" if state._in_flight >= state.concurrent else None
        if problem:
            state.rate_limited += 1
            retry = int(state._window[0] + 60 - now) + 1 if problem == "minute" else 1
            state.calls.append((now, request.method, request.url.path, 429))
            return JSONResponse({"Title": "Too Many Requests"}, status_code=429,
                                headers={"Retry-After": str(retry), "X-Rate-Limit-Problem": problem, **limit_headers()})
        state._window.append(now)
        state._in_flight += 1
        state.max_concurrent_seen = max(state.max_concurrent_seen, state._in_flight)
        try:
            fault = state.faults(request.method, request.url.path) if state.faults else None
            if state.latency:
                await asyncio.sleep(state.latency)
            if fault and fault.status and not fault.after:
                status = fault.status
                response = JSONResponse({"Title": "Injected", "Status": status}, status_code=status,
                                        headers={"Retry-After": str(fault.retry_after)} if status in (429, 503) else {})
            else:
                response = await call_next(request)
                status = response.status_code
                if fault and fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault and fault.status and fault.after:
                    status = fault.status
                    response = JSONResponse({"Title": "Injected", "Status": status}, status_code=status)
        finally:
            state._in_flight -= 1
        state.calls.append((now, request.method, request.url.path, status))
        for k, v in limit_headers().items():
            response.headers[k] = v
        return response

    async def replay_or(request: Request, make):
        # The body is read first: from the key check to storing the answer nothing
        # awaits, so a second request with the same key arriving meanwhile is replayed.
        payload = json.loads(await request.body() or b"{}")
        key = request.headers.get("idempotency-key")
        if key and key in state.idempotent:
            status, body = state.idempotent[key]
            return JSONResponse(body, status_code=status)
        status, body = make(payload)
        if key:
            state.idempotent[key] = (status, body)
        return JSONResponse(body, status_code=status)

    @app.get("/api.xro/2.0/Contacts")
    async def get_contacts(where: str = ""):
        found = list(state.contacts.values())
        if where.startswith("ContactNumber=="):
            number = where.split("==", 1)[1].strip('"')
            found = [c for c in found if c.get("ContactNumber") == number]
        return envelope(Contacts=found)

    @app.put("/api.xro/2.0/Contacts")
    async def put_contacts(request: Request):
        def make(body):
            made = []
            for c in body.get("Contacts", []):
                if not c.get("Name"):
                    return 400, json.loads(validation_error(["The contact name must be specified."], c).body)
                contact = {**c, "ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE"}
                state.contacts[contact["ContactID"]] = contact
                made.append(contact)
            return 200, envelope(Contacts=made)
        return await replay_or(request, make)

    def make_invoices(body):
        made = []
        for inv in body.get("Invoices", []):
            problems = []
            contact_id = (inv.get("Contact") or {}).get("ContactID")
            if contact_id not in state.contacts:
                problems.append("The Contact must contain at least 1 of the following elements to identify the contact: Name, ContactID, ContactNumber")
            for line in inv.get("LineItems", []):
                if line.get("AccountCode") not in ACCOUNT_CODES:
                    problems.append(f"Account code '{line.get('AccountCode')}' is not a valid code for this document.")
                if line.get("TaxType") not in TAX_TYPES:
                    problems.append(f"The TaxType code '{line.get('TaxType')}' does not exist or cannot be used for this type of transaction.")
            number = inv.get("InvoiceNumber") or f"INV-{len(state.ledger) + 1:04d}"
            if any(i["InvoiceNumber"] == number for i in state.ledger.values()):
                problems.append("Invoice # must be unique.")
            if problems:
                return 400, json.loads(validation_error(problems, inv).body)
            subtotal = sum(round(float(l["Quantity"]) * float(l["UnitAmount"]), 2) for l in inv["LineItems"])
            tax = round(subtotal * 0.09, 2) if inv.get("LineAmountTypes", "Exclusive") == "Exclusive" else 0.0
            invoice = {
                **inv, "InvoiceID": str(uuid.uuid4()), "InvoiceNumber": number, "Type": inv.get("Type", "ACCREC"),
                "Date": ms_date(parse_date(inv["Date"])), "DueDate": ms_date(parse_date(inv["DueDate"])),
                "Status": inv.get("Status", "DRAFT"), "SubTotal": subtotal, "TotalTax": tax, "Total": round(subtotal + tax, 2),
                "Contact": state.contacts[contact_id],
            }
            state.ledger[invoice["InvoiceID"]] = invoice
            made.append(invoice)
        return 200, envelope(Invoices=made)

    @app.put("/api.xro/2.0/Invoices")
    async def put_invoices(request: Request):
        return await replay_or(request, make_invoices)

    @app.post("/api.xro/2.0/Invoices")
    async def post_invoices(request: Request):
        return await replay_or(request, make_invoices)

    @app.get("/api.xro/2.0/Invoices")
    async def get_invoices(InvoiceNumbers: str = ""):
        wanted = set(InvoiceNumbers.split(",")) if InvoiceNumbers else None
        return envelope(Invoices=[i for i in state.ledger.values() if wanted is None or i["InvoiceNumber"] in wanted])

    @app.get("/api.xro/2.0/Invoices/{invoice_id}")
    async def get_invoice(invoice_id: str):
        if invoice_id not in state.ledger:
            return JSONResponse({"Title": "Not Found", "Status": 404}, status_code=404)
        return envelope(Invoices=[state.ledger[invoice_id]])

    @app.post("/api.xro/2.0/Invoices/{invoice_id}")
    async def update_invoice(invoice_id: str, request: Request):
        def make(body):
            invoice = state.ledger.get(invoice_id)
            if invoice is None:
                return 404, {"Title": "Not Found", "Status": 404}
            wanted = body["Invoices"][0].get("Status")
            if wanted == "VOIDED" and invoice["Status"] != "AUTHORISED":
                return 400, json.loads(validation_error(["Only AUTHORISED invoices may be voided."], invoice).body)
            if wanted:
                invoice["Status"] = wanted
            return 200, envelope(Invoices=[invoice])
        return await replay_or(request, make)

    return app


class FakeXeroServer:
    """The fake on a free port, served by uvicorn in a background thread."""

    def __init__(self, state: FakeXero | None = None) -> None:
        self.state = state or FakeXero()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(make_app(self.state), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "FakeXeroServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake Xero did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def settings(self, key: str, refresh_token: str | None = None) -> dict:
        """The XERO_* settings pointing at this fake."""
        return {
            "XERO_CLIENT_ID": CLIENT_ID,
            "XERO_CLIENT_SECRET": CLIENT_SECRET,
            "XERO_TOKEN_KEY": key,
            "XERO_TENANT_ID": TENANT_ID,
            "XERO_REFRESH_TOKEN": refresh_token if refresh_token is not None else self.state.issue_refresh_token(),
            "XERO_API_URL": f"{self.url}/api.xro/2.0",
            "XERO_TOKEN_URL": f"{self.url}/connect/token",
            "XERO_AUTHORIZE_URL": f"{self.url}/identity/connect/authorize",
            "XERO_CONNECTIONS_URL": f"{self.url}/connections",
        }
