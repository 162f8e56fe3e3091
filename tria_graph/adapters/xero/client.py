"""Xero's Accounting API through the official SDK, with Tria's rules around each call.

Every HTTP call: takes a rate-limit slot for the tenant, goes through the circuit
breaker (5 failures open it for 60 s), carries a valid access token (TokenStore), and
its failures are sorted into what may succeed later (XeroTransient: 429, 5xx,
timeouts, connection errors, an open breaker) and what will not (XeroRejected: 400
validation errors, with Xero's reasons). A 401 refreshes the token once and repeats
the call. A 429 waits for Retry-After and is tried again a few times (tenacity).

urllib3's own retries are switched off: under the SDK it would silently repeat a PUT
that got 429 or 503, past the rate limiter and without our backoff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import pybreaker
import urllib3
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt
from xero_python.accounting import AccountingApi
from xero_python.accounting.models import Contact, Contacts, Invoice, Invoices, LineAmountTypes, LineItem
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import ApiException, BadRequestException, RateLimitException

from .limits import LocalRateLimiter, retry_after_seconds
from .tokens import TokenStore

log = logging.getLogger("tria.xero")


class XeroTransient(Exception):
    """Xero may accept this later: retry with backoff (retry_after: Xero's hint)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class XeroRateLimited(XeroTransient):
    pass


class XeroRejected(Exception):
    """Xero refused the request as it is (400): retrying will not help."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons) or "Xero rejected the request")
        self.reasons = reasons


@dataclass
class SentInvoice:
    invoice_id: str
    invoice_number: str
    status: str


def breaker(fail_max: int = 5, reset_timeout: float = 60) -> pybreaker.CircuitBreaker:
    """Opens after `fail_max` consecutive failures for `reset_timeout` s. Rejections
    (our data) and 429s (Xero's pacing, handled by the limiter) do not count."""
    return pybreaker.CircuitBreaker(
        fail_max=fail_max, reset_timeout=reset_timeout, exclude=[XeroRejected, XeroRateLimited], name="xero"
    )


def validation_reasons(exc: BadRequestException) -> list[str]:
    try:
        data = exc.error_data
    except Exception:
        return [str(getattr(exc, "body", "") or exc)]
    reasons: list[str] = []
    for element in data.get("Elements") or []:
        reasons += [e.get("Message", "") for e in element.get("ValidationErrors") or []]
    return reasons or [data.get("Message") or data.get("Detail") or "Xero rejected the request"]


class XeroClient:
    RATE_LIMIT_TRIES = 3

    def __init__(
        self,
        settings,
        tokens: TokenStore,
        limiter: LocalRateLimiter | None = None,
        circuit: pybreaker.CircuitBreaker | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.limiter = limiter or LocalRateLimiter(settings.xero_calls_per_minute, settings.xero_max_concurrent)
        self.circuit = circuit or breaker()
        # The SDK reads the token endpoint from a class attribute.
        TokenApi.refresh_token_url = settings.xero_token_url
        self.api_client = ApiClient(
            Configuration(
                oauth2_token=OAuth2Token(client_id=settings.xero_client_id, client_secret=settings.xero_client_secret)
            ),
            pool_threads=1,
            oauth2_token_getter=tokens.current,
            oauth2_token_saver=lambda token: tokens.save(token),
        )
        pool = self.api_client.rest_client.pool_manager
        pool.connection_pool_kw["retries"] = False
        pool.connection_pool_kw["maxsize"] = max(settings.xero_max_concurrent, 4)
        self.accounting = AccountingApi(self.api_client, base_url=settings.xero_api_url)
        tokens.refresher = self._refresh
        self.timeout = (settings.xero_timeout, settings.xero_timeout)

    def _refresh(self, token: dict) -> dict:
        api = TokenApi(self.api_client, self.settings.xero_client_id, self.settings.xero_client_secret)
        try:
            with self.limiter.slot("identity"):
                return api.refresh_token(token.get("refresh_token"), token.get("scope") or [])
        except ApiException as exc:
            raise XeroTransient(f"Xero refused the token refresh ({exc.status}): run `tria xero connect` if it persists") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise XeroTransient(f"token endpoint unreachable: {exc}") from exc

    # --- one call, with every rule ------------------------------------------
    def call(self, method: str, *args, **kwargs):
        for attempt in Retrying(
            retry=retry_if_exception_type(XeroRateLimited),
            stop=stop_after_attempt(self.RATE_LIMIT_TRIES),
            wait=lambda state: 0,  # the limiter itself waits out Retry-After
            reraise=True,
        ):
            with attempt:
                try:
                    # calling(), not call(): pybreaker's call() holds the breaker's lock
                    # for the whole request, which would let one Xero call at a time
                    # through per process; calling() checks and records under the lock
                    # and runs the request outside it.
                    with self.circuit.calling():
                        return self._authorised(method, *args, **kwargs)
                except pybreaker.CircuitBreakerError as exc:
                    raise XeroTransient(f"circuit breaker open: {exc}", retry_after=self.circuit.reset_timeout) from exc

    def _authorised(self, method: str, *args, **kwargs):
        tenant = self.tokens.tenant_id()
        try:
            return self._once(tenant, method, *args, **kwargs)
        except _Unauthorised as exc:
            self.tokens.refresh(stale_access_token=exc.access_token)
            return self._once(tenant, method, *args, **kwargs)

    def _once(self, tenant: str, method: str, *args, **kwargs):
        access_token = self.tokens.current().get("access_token")
        with self.limiter.slot(tenant):
            try:
                data, _status, headers = getattr(self.accounting, method)(
                    tenant, *args, _return_http_data_only=False, _request_timeout=self.timeout, **kwargs
                )
            except RateLimitException as exc:
                wait = retry_after_seconds(exc.headers)
                self.limiter.pause(tenant, wait)
                raise XeroRateLimited(f"429 rate limited ({exc.headers.get('X-Rate-Limit-Problem')})", wait) from exc
            except BadRequestException as exc:
                raise XeroRejected(validation_reasons(exc)) from exc
            except ApiException as exc:
                if exc.status == 401:
                    raise _Unauthorised(access_token) from exc
                if exc.status and exc.status >= 500:
                    raise XeroTransient(f"Xero answered {exc.status}", retry_after_seconds(exc.headers, None)) from exc
                if exc.status == 0:
                    raise XeroTransient(f"Xero unreachable: {exc.reason}") from exc
                raise XeroRejected([f"Xero answered {exc.status}: {exc.reason}"]) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise XeroTransient(f"timeout or connection error: {exc}") from exc
        self.limiter.observe(tenant, headers)
        return data

    # --- what Tria uses -------------------------------------------------------
    def find_contact(self, contact_number: str) -> str | None:
        found = self.call("get_contacts", where=f'ContactNumber=="{contact_number}"')
        contacts = found.contacts or []
        return contacts[0].contact_id if contacts else None

    def create_contact(self, outlet: dict, idempotency_key: str) -> str:
        contact = Contact(
            name=outlet["name"],
            contact_number=outlet["customer_id"],
            email_address=outlet.get("email") or None,
            first_name=outlet.get("contact_name") or None,
        )
        created = self.call("create_contacts", Contacts(contacts=[contact]), idempotency_key=idempotency_key)
        return created.contacts[0].contact_id

    def create_invoice(self, payload: dict, contact_id: str, idempotency_key: str) -> SentInvoice:
        invoice = Invoice(
            type="ACCREC",
            contact=Contact(contact_id=contact_id),
            invoice_number=payload["invoice_number"],
            reference=payload["reference"],
            date=payload["date"],
            due_date=payload["due_date"],
            line_amount_types=LineAmountTypes.EXCLUSIVE,
            status=payload["status"],
            line_items=[LineItem(**line) for line in payload["line_items"]],
        )
        created = self.call("create_invoices", Invoices(invoices=[invoice]), idempotency_key=idempotency_key)
        made = created.invoices[0]
        return SentInvoice(made.invoice_id, made.invoice_number, made.status)

    def find_invoice(self, invoice_number: str) -> tuple[SentInvoice, str] | None:
        """The invoice with this number, and its Reference; None if Xero has none."""
        found = self.call("get_invoices", invoice_numbers=[invoice_number]).invoices or []
        if not found:
            return None
        made = found[0]
        return SentInvoice(made.invoice_id, made.invoice_number, made.status), made.reference

    def void_invoice(self, invoice_id: str, idempotency_key: str) -> str:
        """VOIDED for an authorised invoice; a draft can only be DELETED."""
        current = self.call("get_invoice", invoice_id).invoices[0]
        if current.status in ("VOIDED", "DELETED"):
            return current.status
        target = "DELETED" if current.status in ("DRAFT", "SUBMITTED") else "VOIDED"
        updated = self.call(
            "update_invoice", invoice_id, Invoices(invoices=[Invoice(invoice_id=invoice_id, status=target)]),
            idempotency_key=idempotency_key,
        )
        return updated.invoices[0].status


class _Unauthorised(Exception):
    def __init__(self, access_token: str | None) -> None:
        super().__init__("401")
        self.access_token = access_token


def invoice_payload(order: dict, invoice: dict, settings) -> dict:
    """What Tria sends for one order: a line per order line, amounts exclusive of tax."""
    return {
        "invoice_number": invoice["number"],
        "reference": order["number"],
        "date": invoice["issued_on"] if isinstance(invoice["issued_on"], date) else date.fromisoformat(invoice["issued_on"]),
        "due_date": invoice["due_on"],
        "status": settings.xero_invoice_status,
        "line_items": [
            {
                "item_code": line["sku"],
                "description": line["name"],
                "quantity": float(line["quantity"]),
                "unit_amount": float(line["unit_price"]),
                "account_code": settings.xero_sales_account_code,
                "tax_type": settings.xero_tax_type,
            }
            for line in order["lines"]
        ],
    }
