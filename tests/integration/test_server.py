"""The HTTP server end to end: FastAPI's TestClient against the real lifespan.

One server (module scope) serves most tests, over a private copy of the seeded
VAR_DIR; every test uses its own session ids and, where it counts orders, its own
customer. Its loading is held back by a gate until the "before loaded" answers are
recorded, so those are deterministic. The misconfigured-VAR_DIR tests start their
own (fast: they fail before any model loads).

Runs on the real clock (the server builds its own context), so dates are checked
relative to each other, not against fixed days.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

import server.main as server_app
from tests.conftest import db_rows
from tests.support.auth import TEST_SIGNING_KEYS, OutletAuth
from server.schemas import ChatResponse
from tria_graph.config import DATA_DIR, get_settings

READY_TIMEOUT = 60.0
MONEY = re.compile(r"^-?\d+\.\d{2}$")
TABLES = ("orders", "order_lines", "invoices", "escalations", "chat_sessions")
POLICY_TITLES = {
    line[2:].strip()
    for path in (DATA_DIR / "policies").glob("*.md")
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.startswith("# ")
}


# --- helpers ---------------------------------------------------------------------


def private_var(source: Path, target: Path) -> Path:
    """A VAR_DIR with its own database copy; knowledge base and model shared."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "tria.db", target / "tria.db")
    (target / "chroma").symlink_to(source / "chroma")
    (target / "models").symlink_to(source / "models")
    return target


@contextmanager
def serving(var: Path, gate: threading.Event | None = None, env: dict[str, str] | None = None, auth=None):
    """The app under TestClient with VAR_DIR=var (and `env`); loading waits for `gate`.

    The client authenticates each request as the outlet it names (tests/support/auth.py)
    unless `auth` says otherwise (False: no credentials at all)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAR_DIR", str(var))
        # Empty values win over a developer's .env, so nothing points elsewhere.
        for name in ("DATABASE_URL", "CHECKPOINT_DB", "CHROMA_DIR", "CHROMA_HOST", "REDIS_URL"):
            mp.setenv(name, "")
        # These tests send bursts of turns about other things; rate limits have their own
        # tests (tests/integration/test_rate_limits.py), which pass RATE_LIMIT_ENABLED=true.
        mp.setenv("RATE_LIMIT_ENABLED", "false")
        # A known signing key, so tests mint tokens; cookies over the test client's http.
        mp.setenv("AUTH_SIGNING_KEYS", TEST_SIGNING_KEYS)
        mp.setenv("AUTH_COOKIE_SECURE", "false")
        for name, value in (env or {}).items():
            mp.setenv(name, value)
        if gate is not None:
            real = server_app.open_chat_service

            @asynccontextmanager
            async def gated(settings=None):
                await asyncio.to_thread(gate.wait, READY_TIMEOUT)
                async with real(settings) as service:
                    yield service

            mp.setattr(server_app, "open_chat_service", gated)
        get_settings.cache_clear()
        try:
            with TestClient(server_app.app, raise_server_exceptions=False) as client:
                client.auth = OutletAuth() if auth is None else auth or None
                yield client
        finally:
            if gate is not None:
                gate.set()
            get_settings.cache_clear()


def wait_until(client: TestClient, done, timeout: float = READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        response = done(client)
        if response is not None:
            return response
        if time.monotonic() > deadline:
            pytest.fail(f"server not settled after {timeout:.0f} s: {client.get('/readiness').text}")
        time.sleep(0.1)


def wait_ready(client: TestClient):
    def ready(c):
        response = c.get("/readiness")
        return response if response.status_code == 200 else None

    return wait_until(client, ready)


def wait_failed(client: TestClient):
    """/health once loading has ended (failed, for a misconfigured VAR_DIR)."""
    def settled(c):
        response = c.get("/health")
        return response if response.json()["status"] != "starting" else None

    return wait_until(client, settled)


def db_counts(var: Path) -> dict[str, int]:
    """Rows in the orders database and in the checkpointer, to prove nothing was written."""
    engine = create_engine(f"sqlite:///{var / 'tria.db'}")
    try:
        with engine.connect() as conn:
            counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in TABLES}
    finally:
        engine.dispose()
    checkpoints = var / "checkpoints.db"
    if checkpoints.exists():
        with sqlite3.connect(checkpoints) as conn:
            for t in ("checkpoints", "writes"):
                counts[f"checkpoint_{t}"] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    return counts



def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"].strip(), body
    assert set(body) <= {"error", "message", "detail"}, body
    if code is not None:
        assert body["error"] == code, body
    return body


def assert_money(value) -> Decimal:
    assert isinstance(value, str) and MONEY.match(value), f"money not a decimal string: {value!r}"
    return Decimal(value)


@dataclass
class Server:
    client: TestClient
    var: Path
    before_load: dict

    def chat(self, message, session_id: str, customer_id: str = "OUT-001"):
        return self.client.post(
            "/api/chatbot",
            json={"message": message, "session_id": session_id, "customer_id": customer_id},
        )

    def state(self, session_id: str):
        """The session's checkpointed graph state, read on the server's event loop."""
        graph = self.client.app.state.bot.service.graph
        return self.client.portal.call(graph.aget_state, {"configurable": {"thread_id": session_id}})


# --- the shared server -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(seeded_var, tmp_path_factory) -> Server:
    var = private_var(seeded_var, tmp_path_factory.mktemp("server") / "var")
    gate = threading.Event()
    with serving(var, gate) as client:
        # Held at the gate: the bot is not loaded yet.
        before = {
            "readiness": client.get("/readiness"),
            "health": client.get("/health"),
            "chatbot": client.post(
                "/api/chatbot",
                json={"message": "hello", "session_id": "before-load", "customer_id": "OUT-001"},
            ),
        }
        gate.set()
        wait_ready(client)
        yield Server(client, var, before)


# --- loading, readiness and health --------------------------------------------------


def test_before_the_bot_is_loaded_readiness_and_chatbot_answer_503(server):
    readiness = assert_error(server.before_load["readiness"], 503, "not_ready")
    assert "load" in readiness["message"].lower()
    assert server.before_load["readiness"].headers.get("retry-after") == "5"

    chatbot = assert_error(server.before_load["chatbot"], 503, "starting")
    assert "retry" in chatbot["message"].lower()
    assert server.before_load["chatbot"].headers.get("retry-after") == "5"

    health = server.before_load["health"]
    assert health.status_code == 200
    assert health.json()["status"] == "starting"
    assert health.json()["database"] == "not_loaded"

    # The refused turn did not bind its session.
    assert db_rows(server.var, "SELECT * FROM chat_sessions WHERE session_id = 'before-load'") == []


def test_readiness_is_200_once_loaded(server):
    response = server.client.get("/readiness")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


def test_health_has_the_runbook_shape_and_is_healthy_once_loaded(server):
    response = server.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "status", "timestamp", "version", "database", "redis", "chromadb", "latency_ms", "circuit_breakers"
    }
    assert body["status"] == "healthy"
    stamp = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None
    assert abs(time.time() - stamp.timestamp()) < 60
    assert body["version"] == version("tria-graph")
    assert body["database"] == "connected"
    assert body["redis"] == "not_configured"
    assert body["chromadb"] == "connected"
    # Each probed dependency reports how long its probe took (Redis is not probed here).
    assert set(body["latency_ms"]) == {"database", "chromadb"}
    assert all(0 <= ms < 5000 for ms in body["latency_ms"].values()), body["latency_ms"]
    breakers = body["circuit_breakers"]
    assert set(breakers) == {"xero", "openai", "database"}
    assert set(breakers.values()) <= {"closed", "open", "half_open", "not_configured"}
    assert breakers["database"] == "closed"


# --- the chatbot -----------------------------------------------------------------------


def test_policy_question_returns_every_field_and_its_sources(server):
    response = server.chat("What is your return policy?", "srv-policy-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == set(ChatResponse.model_fields)
    for name in (
        "session_id", "reply", "intent", "confidence", "sources", "order", "invoice",
        "pending_confirmation", "escalated", "latency_ms",
    ):
        assert name in body
    assert body["session_id"] == "srv-policy-1"
    assert isinstance(body["reply"], str) and body["reply"].strip()
    assert body["intent"] == "policy_question"
    assert isinstance(body["confidence"], float) and 0 < body["confidence"] <= 1
    assert body["sources"], "a policy answer names its sources"
    for source in body["sources"]:
        assert set(source) == {"document", "section"}
        assert source["document"] and source["section"]
    assert body["sources"][0]["document"] in POLICY_TITLES
    assert body["order"] is None and body["invoice"] is None
    assert body["pending_confirmation"] is False
    assert body["escalated"] is False and body["escalation"] is None
    assert isinstance(body["latency_ms"], (int, float)) and body["latency_ms"] >= 0


def test_a_whole_order_over_http(server):
    session, customer = "srv-order-1", "OUT-001"
    before = db_counts(server.var)

    drafted = server.chat("I need 200 12 inch pizza boxes", session, customer)
    assert drafted.status_code == 200, drafted.text
    draft = drafted.json()
    assert draft["intent"] == "order_placement"
    assert draft["pending_confirmation"] is True
    assert draft["order"] is None and draft["invoice"] is None
    # 200 x SGD 0.65 = 130.00, GST 9% = 11.70, total 141.70.
    for amount in ("130.00", "11.70", "141.70"):
        assert amount in draft["reply"], draft["reply"]
    after_draft = db_counts(server.var)
    assert after_draft["orders"] == before["orders"], "nothing is placed before 'yes'"

    placed = server.chat("yes", session, customer)
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert body["pending_confirmation"] is False
    order, invoice = body["order"], body["invoice"]
    assert re.fullmatch(r"SO-\d+", order["number"]), order
    assert order["status"] == "confirmed"
    assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("PB-12", 200)]
    line = order["lines"][0]
    assert assert_money(line["unit_price"]) == Decimal("0.65")
    assert assert_money(line["line_total"]) == Decimal("130.00")
    assert assert_money(order["subtotal"]) == Decimal("130.00")
    assert assert_money(order["gst"]) == Decimal("11.70")
    assert assert_money(order["total"]) == Decimal("141.70")
    date.fromisoformat(order["delivery_date"])

    assert re.fullmatch(r"INV-\d{4}-\d+", invoice["number"]), invoice
    assert invoice["order_number"] == order["number"]
    assert order["invoice_number"] == invoice["number"]
    issued, due = date.fromisoformat(invoice["issued_on"]), date.fromisoformat(invoice["due_on"])
    assert due - issued == timedelta(days=30)
    assert abs((issued - date.today()).days) <= 1
    assert assert_money(invoice["subtotal"]) + assert_money(invoice["gst"]) == assert_money(invoice["total"])
    assert invoice["total"] == "141.70"
    for inv_line in invoice["lines"]:
        assert_money(inv_line["unit_amount"])
        assert_money(inv_line["line_amount"])
    assert order["number"] in body["reply"] and invoice["number"] in body["reply"]

    after = db_counts(server.var)
    assert after["orders"] == before["orders"] + 1
    assert after["invoices"] == before["invoices"] + 1
    rows = db_rows(server.var, "SELECT customer_id, status, total FROM orders WHERE number = :n", n=order["number"])
    assert [(r.customer_id, r.status, Decimal(str(r.total))) for r in rows] == [
        (customer, "confirmed", Decimal("141.70"))
    ]

    again = server.chat(f"send me the invoice for {order['number']}", session, customer)
    assert again.status_code == 200, again.text
    repeat = again.json()
    assert repeat["intent"] == "invoice_request"
    assert repeat["invoice"]["number"] == invoice["number"]
    assert repeat["invoice"]["due_on"] == invoice["due_on"]
    assert repeat["order"]["number"] == order["number"]
    assert db_counts(server.var)["invoices"] == after["invoices"], "no second invoice"


def test_a_session_belongs_to_its_customer(server):
    session, owner, intruder = "srv-owned-1", "OUT-002", "OUT-003"
    drafted = server.chat("I need 200 12 inch pizza boxes", session, owner)
    assert drafted.status_code == 200, drafted.text
    assert drafted.json()["pending_confirmation"] is True
    before = db_counts(server.var)
    state_before = server.state(session)
    assert state_before.values["draft"]["status"] == "awaiting_confirmation", "the draft waits for an answer"

    # Another valid customer answers the owner's pending draft.
    refused = server.chat("yes", session, intruder)
    body = assert_error(refused, 403, "forbidden")
    assert "another customer" in body["message"]

    assert db_counts(server.var) == before
    rows = db_rows(server.var, "SELECT customer_id FROM chat_sessions WHERE session_id = :s", s=session)
    assert [r.customer_id for r in rows] == [owner]
    state_after = server.state(session)
    assert len(state_after.values["messages"]) == len(state_before.values["messages"])
    assert "yes" not in [m.content for m in state_after.values["messages"]]
    assert state_after.values["customer_id"] == owner
    assert state_after.values["draft"]["status"] == "awaiting_confirmation", "the draft still waits for its owner"
    assert state_after.config["configurable"]["checkpoint_id"] == state_before.config["configurable"]["checkpoint_id"]

    # The owner's draft is intact: the owner's "yes" places it, on the owner's account.
    placed = server.chat("yes", session, owner)
    assert placed.status_code == 200, placed.text
    number = placed.json()["order"]["number"]
    rows = db_rows(server.var, "SELECT customer_id FROM orders WHERE number = :n", n=number)
    assert [r.customer_id for r in rows] == [owner]


# --- bad input -------------------------------------------------------------------------

OK = {"message": "hello", "customer_id": "OUT-004"}


def without(name: str, body: dict) -> dict:
    return {k: v for k, v in body.items() if k != name}


# (id, keyword arguments for client.post, status, error code, text the message names)
BAD_INPUTS = [
    ("empty-message", {"json": {**OK, "message": ""}}, 422, "invalid_request", "message"),
    ("whitespace-message", {"json": {**OK, "message": " \n\t  "}}, 422, "invalid_request", "empty"),
    ("message-4001", {"json": {**OK, "message": "a" * 4001}}, 422, "invalid_request", "4000"),
    ("message-10000", {"json": {**OK, "message": "order " * 2000}}, 422, "invalid_request", "4000"),
    ("missing-message", {"json": without("message", OK)}, 422, "invalid_request", "message"),
    ("missing-session_id", {"json": OK}, 422, "invalid_request", "session_id"),
    ("extra-field", {"json": {**OK, "priority": "high"}}, 422, "invalid_request", "priority"),
    ("message-int", {"json": {**OK, "message": 42}}, 422, "invalid_request", "message"),
    ("message-null", {"json": {**OK, "message": None}}, 422, "invalid_request", "message"),
    ("message-list", {"json": {**OK, "message": ["hi"]}}, 422, "invalid_request", "message"),
    ("message-object", {"json": {**OK, "message": {"text": "hi"}}}, 422, "invalid_request", "message"),
    ("session_id-int", {"json": {**OK, "session_id": 7}}, 422, "invalid_request", "session_id"),
    ("customer_id-int", {"json": {**OK, "customer_id": 1}}, 422, "invalid_request", "customer_id"),
    ("body-array", {"json": [OK]}, 422, "invalid_request", "body"),
    ("body-string", {"json": "hello"}, 422, "invalid_request", "body"),
    ("body-null", {"content": "null", "headers": {"content-type": "application/json"}}, 422, "invalid_request", "body"),
    ("body-empty", {"content": "", "headers": {"content-type": "application/json"}}, 422, "invalid_request", "body"),
    ("malformed-json", {"content": '{"message": "hi", "session_id": ', "headers": {"content-type": "application/json"}}, 422, "invalid_request", "JSON"),
    ("text-plain", {"content": "hello", "headers": {"content-type": "text/plain"}}, 422, "invalid_request", "body"),
    ("json-as-text-plain", {"content": '{"message": "hi", "session_id": "bad-ct", "customer_id": "OUT-004"}', "headers": {"content-type": "text/plain"}}, 422, "invalid_request", "body"),
    ("form-encoded", {"data": {"message": "hi", "session_id": "bad-form", "customer_id": "OUT-004"}}, 422, "invalid_request", "body"),
    ("unknown-customer", {"json": {**OK, "customer_id": "OUT-999"}}, 404, "unknown_customer", "OUT-999"),
    ("unknown-customer-lowercase", {"json": {**OK, "customer_id": "out-001"}}, 404, "unknown_customer", "out-001"),
    ("customer_id-space", {"json": {**OK, "customer_id": "OUT 001"}}, 422, "invalid_request", "customer_id"),
    ("customer_id-empty", {"json": {**OK, "customer_id": ""}}, 422, "invalid_request", "customer_id"),
    ("customer_id-too-long", {"json": {**OK, "customer_id": "OUT-" + "1" * 13}}, 422, "invalid_request", "customer_id"),
    ("session_id-space", {"json": {**OK, "session_id": "a b"}}, 422, "invalid_request", "session_id"),
    ("session_id-slash", {"json": {**OK, "session_id": "../etc/passwd"}}, 422, "invalid_request", "session_id"),
    ("session_id-quote", {"json": {**OK, "session_id": "x';DROP TABLE orders;--"}}, 422, "invalid_request", "session_id"),
    ("session_id-unicode", {"json": {**OK, "session_id": "séance"}}, 422, "invalid_request", "session_id"),
    ("session_id-newline", {"json": {**OK, "session_id": "abc\n"}}, 422, "invalid_request", "session_id"),
    ("session_id-empty", {"json": {**OK, "session_id": ""}}, 422, "invalid_request", "session_id"),
    ("session_id-too-long", {"json": {**OK, "session_id": "s" * 129}}, 422, "invalid_request", "session_id"),
]


@pytest.mark.parametrize(
    "kwargs, status, code, names",
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_is_a_clear_4xx_json_error_and_writes_nothing(server, request, kwargs, status, code, names):
    session = f"bad-{request.node.callspec.id}"
    if "json" in kwargs and isinstance(kwargs["json"], dict) and "session_id" not in kwargs["json"]:
        if request.node.callspec.id != "missing-session_id":
            kwargs = {**kwargs, "json": {**kwargs["json"], "session_id": session}}
    before = db_counts(server.var)

    response = server.client.post("/api/chatbot", **kwargs)

    body = assert_error(response, status, code)
    assert names.lower() in body["message"].lower(), body
    assert db_counts(server.var) == before
    assert db_rows(server.var, "SELECT * FROM chat_sessions WHERE session_id = :s", s=session) == []


def test_without_customer_id_the_token_names_the_outlet(server):
    response = server.client.post(
        "/api/chatbot", json={"message": "where is my order", "session_id": "srv-no-customer"}, auth=OutletAuth()
    )
    assert response.status_code == 200, response.text
    rows = db_rows(server.var, "SELECT customer_id FROM chat_sessions WHERE session_id = 'srv-no-customer'")
    assert [r.customer_id for r in rows] == ["OUT-001"]


def test_unknown_customer_on_an_existing_session_is_404_and_writes_nothing(server):
    assert server.chat("hello", "srv-known-1", "OUT-005").status_code == 200
    before = db_counts(server.var)
    assert_error(server.chat("hello", "srv-known-1", "OUT-404"), 404, "unknown_customer")
    assert db_counts(server.var) == before


def test_a_message_of_exactly_4000_characters_is_accepted(server):
    message = ("Do you deliver on Sundays? " * 200)[:4000]
    assert len(message) == 4000
    response = server.chat(message, "srv-4000-1", "OUT-006")
    assert response.status_code == 200, response.text
    assert response.json()["reply"]
    # Surrounding whitespace does not count against the limit.
    padded = server.chat(f"  {message}\n", "srv-4000-2", "OUT-006")
    assert padded.status_code == 200, padded.text


def test_a_validation_error_lists_each_bad_field(server):
    response = server.client.post("/api/chatbot", json={"message": "", "session_id": "a b", "extra": 1})
    body = assert_error(response, 422, "invalid_request")
    fields = {d["field"] for d in body["detail"]}
    # customer_id is optional: the token names the outlet.
    assert fields == {"message", "session_id", "extra"}
    for name in fields:
        assert name in body["message"]


def test_malformed_json_error_does_not_name_a_byte_offset_as_the_field(server):
    """BUG (server/errors.py invalid_request): a JSON decode error's loc is
    ("body", <byte offset>), and the handler reports the offset as the field:
    {"message": "31: JSON decode error", "detail": [{"field": "31", ...}]}."""
    response = server.client.post(
        "/api/chatbot",
        content='{"message": "hi", "session_id": ',
        headers={"content-type": "application/json"},
    )
    body = assert_error(response, 422, "invalid_request")
    fields = [d["field"] for d in body["detail"]]
    assert not any(f.isdigit() for f in fields), body


def test_body_that_is_not_utf8_is_a_clear_json_error(server):
    """BUG (server/errors.py): a body FastAPI cannot decode raises HTTPException(400);
    no handler maps it to the API's error shape, so the client gets
    {"detail": "There was an error parsing the body"} without "error"/"message"."""
    before = db_counts(server.var)
    response = server.client.post(
        "/api/chatbot",
        content=b'{"message": "caf\xe9", "session_id": "bad-latin1", "customer_id": "OUT-004"}',
        headers={"content-type": "application/json"},
    )
    # 422 as any other body that is not the route's JSON: the status the schema documents.
    body = assert_error(response, 422, "invalid_request")
    assert body["detail"][0]["field"] == "body"
    assert db_counts(server.var) == before
    login = server.client.post("/api/auth/login", content=b'{"email": "\xff"}', headers={"content-type": "application/json"})
    assert_error(login, 422, "invalid_request")


def test_wrong_method_is_a_json_error_in_the_api_shape(server):
    """Same root cause as the non-UTF-8 body: Starlette's 405 is {"detail": ...}."""
    response = server.client.get("/api/chatbot")
    assert_error(response, 405)


# --- a VAR_DIR the bot cannot load from ---------------------------------------------------


def test_empty_var_dir_is_not_ready_and_names_tria_db_seed(tmp_path):
    var = tmp_path / "empty-var"
    var.mkdir()
    with serving(var) as client:
        health = wait_failed(client)
        assert health.status_code == 200
        assert health.json()["status"] == "unhealthy"
        assert health.json()["redis"] == "not_configured"

        readiness = assert_error(client.get("/readiness"), 503, "not_ready")
        assert "tria db seed" in readiness["message"]

        chatbot = client.post(
            "/api/chatbot", json={"message": "hello", "session_id": "s-empty", "customer_id": "OUT-001"}
        )
        body = assert_error(chatbot, 503)
        assert "tria db seed" in body["message"]
    # The server never creates or changes the schema (that is `tria db migrate`'s job).
    assert db_rows(var, "SELECT name FROM sqlite_master WHERE type = 'table'") == []


def test_missing_knowledge_base_is_not_ready_and_names_tria_kb_build(seeded_var, tmp_path):
    var = tmp_path / "no-kb"
    var.mkdir()
    shutil.copy(seeded_var / "tria.db", var / "tria.db")
    with serving(var) as client:
        assert wait_failed(client).json()["status"] == "unhealthy"
        readiness = assert_error(client.get("/readiness"), 503, "not_ready")
        assert "tria kb build" in readiness["message"]
        chatbot = client.post(
            "/api/chatbot", json={"message": "hello", "session_id": "s-nokb", "customer_id": "OUT-001"}
        )
        assert_error(chatbot, 503)
