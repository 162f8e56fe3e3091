"""The server's error answers, fast: the app with a fake ChatService, no model, no stores.

Each exception the library raises must reach the client as its status, code and
headers (server/errors.py), whichever route it comes from.
"""

from __future__ import annotations

import psycopg
import psycopg_pool
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from server.deps import BotHolder
from server.main import create_app
from tests.support.auth import bearer, signer
from tria_graph.auth import Authenticator
from tria_graph.adapters.session_locks import SessionBusy
from tria_graph.config import get_settings
from tria_graph.conversation import SessionForbidden, SessionNotFound, UnknownCustomer
from tria_graph.turn import TurnResult
from tria_graph.health import HealthReport

TURN = {"message": "hello", "session_id": "s-1", "customer_id": "OUT-001"}


class FakeService:
    """Raises `error` from every call, or answers a canned turn."""

    def __init__(self, error: Exception | None = None, fail_midstream: Exception | None = None) -> None:
        self.error = error
        self.fail_midstream = fail_midstream

    def _result(self, session_id: str) -> TurnResult:
        return TurnResult(session_id=session_id, reply="Hello!", intent="greeting", confidence=1.0)

    async def send(self, session_id, customer_id, message):
        if self.error:
            raise self.error
        return self._result(session_id)

    async def stream(self, session_id, customer_id, message):
        if self.error:
            raise self.error
        yield "started", None
        yield "token", "Hel"
        if self.fail_midstream:
            raise self.fail_midstream
        yield "token", "lo!"
        yield "result", self._result(session_id)

    async def transcript(self, session_id, customer_id):
        if self.error:
            raise self.error
        return []

    async def health(self):
        return HealthReport(
            status="degraded", database="connected", redis="disconnected", chromadb="connected",
            latency_ms={"database": 1.0, "redis": 250.0, "chromadb": 2.0},
            circuit_breakers={"xero": "closed", "openai": "closed", "database": "closed"},
        )


class NothingRevoked:
    """The auth store's reads for outlet tokens: no user, nothing revoked."""

    def is_revoked(self, jti: str) -> bool:
        return False

    def user(self, user_id: int):
        return None


class NoAudit:
    def record(self, *args, **kwargs) -> None:
        pass


def client_for(service=None, error: str | None = None) -> TestClient:
    """A fresh app (no lifespan: nothing loads) with the bot holder set by hand; the
    client sends an OUT-001 token (real signature checks, no database)."""
    app = create_app()
    app.state.bot = BotHolder()
    app.state.bot.service, app.state.bot.error = service, error
    if service is not None:
        app.state.bot.auth = Authenticator(signer(), NothingRevoked(), NoAudit())
    return TestClient(app, raise_server_exceptions=False, headers=bearer("OUT-001"))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert set(body) <= {"error", "message", "detail"} and body["message"], body
    return body


def database_errors() -> list[Exception]:
    return [
        OperationalError("SELECT 1", {}, Exception("connection refused")),
        psycopg.OperationalError("server closed the connection"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
    ]


# (exception, status, code, Retry-After, text the message names)
LIBRARY_ERRORS = [
    (UnknownCustomer("OUT-999"), 404, "unknown_customer", None, "No outlet has customer_id 'OUT-999'."),
    (SessionForbidden("s-1"), 403, "forbidden", None, "This session belongs to another customer."),
    (SessionNotFound("s-1"), 404, "unknown_session", None, "No conversation has session_id 's-1'."),
    (SessionBusy("s-1"), 503, "session_busy", "2", "still being answered"),
    *[(e, 503, "database_unavailable", "5", "database is not answering") for e in database_errors()],
]
CASES = [pytest.param(*case, id=type(case[0]).__name__) for case in LIBRARY_ERRORS]


@pytest.mark.parametrize("exc, status, code, retry_after, message", CASES)
@pytest.mark.parametrize("route", ["chatbot", "stream", "transcript"])
def test_each_library_exception_maps_to_its_status_code_and_headers(route, exc, status, code, retry_after, message):
    client = client_for(FakeService(exc))
    if route == "chatbot":
        response = client.post("/api/chatbot", json=TURN)
    elif route == "stream":
        response = client.post("/api/chatbot/stream", json=TURN)
    else:
        response = client.get("/api/sessions/s-1/messages", params={"customer_id": "OUT-001"})
    body = assert_error(response, status, code)
    assert message in body["message"]
    assert response.headers.get("retry-after") == retry_after


def test_while_loading_the_api_is_503_starting_with_retry_after():
    client = client_for()
    for response in (
        client.post("/api/chatbot", json=TURN),
        client.post("/api/chatbot/stream", json=TURN),
        client.get("/api/sessions/s-1/messages", params={"customer_id": "OUT-001"}),
    ):
        body = assert_error(response, 503, "starting")
        assert "retry" in body["message"].lower()
        assert response.headers["retry-after"] == "5"
    readiness = client.get("/readiness")
    assert assert_error(readiness, 503, "not_ready")["message"] == "Loading the graph, database and knowledge base."
    assert readiness.headers["retry-after"] == "5"
    assert client.get("/health").json()["status"] == "starting"


def test_a_failed_load_names_its_reason():
    client = client_for(error="no database: run `tria db seed`")
    response = client.post("/api/chatbot", json=TURN)
    assert assert_error(response, 503, "starting")["message"] == "no database: run `tria db seed`"
    assert response.headers["retry-after"] == "5"
    assert assert_error(client.get("/readiness"), 503, "not_ready")["message"] == "no database: run `tria db seed`"
    health = client.get("/health").json()
    assert (health["status"], health["database"], health["chromadb"]) == ("unhealthy", "not_loaded", "not_loaded")


def test_an_unexpected_exception_is_a_500_that_names_no_internals():
    client = client_for(FakeService(KeyError("secret_column_name")))
    response = client.post("/api/chatbot", json=TURN)
    body = assert_error(response, 500, "internal_error")
    assert "secret_column_name" not in response.text and "KeyError" not in response.text
    assert set(body) == {"error", "message"}


def test_streaming_off_is_404_even_while_loading(monkeypatch):
    monkeypatch.setenv("ENABLE_STREAMING", "false")
    get_settings.cache_clear()
    try:
        for client in (client_for(), client_for(FakeService())):
            assert_error(client.post("/api/chatbot/stream", json=TURN), 404, "streaming_disabled")
    finally:
        get_settings.cache_clear()


def test_a_stream_sends_tokens_then_done():
    response = client_for(FakeService()).post("/api/chatbot/stream", json=TURN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n")[0] for block in response.text.strip().split("\n\n")]
    assert events == ["event: token", "event: token", "event: done"]


def test_a_failure_after_the_stream_started_is_an_error_event():
    response = client_for(FakeService(fail_midstream=RuntimeError("model went away"))).post(
        "/api/chatbot/stream", json=TURN
    )
    assert response.status_code == 200
    assert "event: error" in response.text and "turn_failed" in response.text


def test_health_formats_the_library_report():
    body = client_for(FakeService()).get("/health").json()
    assert body["status"] == "degraded" and body["redis"] == "disconnected"
    assert body["latency_ms"] == {"database": 1.0, "redis": 250.0, "chromadb": 2.0}
    assert {"timestamp", "version"} <= set(body)


def test_a_bad_request_is_still_422_once_loaded():
    response = client_for(FakeService()).post("/api/chatbot", json={**TURN, "message": "  "})
    assert assert_error(response, 422, "invalid_request")["detail"][0]["field"] == "message"


def test_requests_are_counted_by_route_template_and_status():
    from prometheus_client import REGISTRY

    def count() -> float:
        labels = {"method": "GET", "route": "/api/sessions/{session_id}/messages", "status": "404"}
        return REGISTRY.get_sample_value("tria_http_requests_total", labels) or 0.0

    before = count()
    client_for(FakeService(SessionNotFound("s-9"))).get("/api/sessions/s-9/messages", params={"customer_id": "OUT-001"})
    assert count() == before + 1
