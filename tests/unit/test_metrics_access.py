"""GET /metrics: METRICS_TOKEN bearer from anywhere, else loopback clients only; and
/health, which anyone may read, tells no secret."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from server.deps import BotHolder
from server.main import create_app
from server.metrics_access import bearer_token, is_loopback
from tests.unit.test_server_errors import FakeService, assert_error
from tria_graph.adapters.cache import RedisCache
from tria_graph.config import get_settings
from tria_graph.health import check_health

TOKEN = "3f1c0a9e-metrics-token"


@pytest.fixture
def metrics_token(monkeypatch):
    def set_(value: str) -> None:
        monkeypatch.setenv("METRICS_TOKEN", value)
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


def client_from(host: str, service=None) -> TestClient:
    """The app (no lifespan) as seen from `host`: the ASGI scope's client, which is what
    the loopback check reads (TestClient's default host is "testclient")."""
    app = create_app()
    app.state.bot = BotHolder()
    app.state.bot.service = service
    return TestClient(app, client=(host, 50000), raise_server_exceptions=False)


def refused(reason: str) -> float:
    return REGISTRY.get_sample_value("tria_metrics_refused_total", {"reason": reason}) or 0.0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_loopback_clients_read_metrics(metrics_token, host):
    metrics_token("")
    response = client_from(host).get("/metrics")
    assert response.status_code == 200
    assert "tria_http_requests_total" in response.text


@pytest.mark.parametrize("host", ["testclient", "10.0.0.5", "172.18.0.3", "203.0.113.7", "2001:db8::1", "localhost.evil"])
def test_without_a_token_other_clients_are_refused_403(metrics_token, host):
    metrics_token("")
    before = refused("not_loopback")
    response = client_from(host).get("/metrics")
    body = assert_error(response, 403, "forbidden")
    assert set(body) == {"error", "message"} and "METRICS_TOKEN" in body["message"]
    assert "tria_http_requests_total" not in response.text
    assert refused("not_loopback") - before == 1


@pytest.mark.parametrize("host", ["203.0.113.7", "127.0.0.1"])
def test_with_a_token_only_the_bearer_reads_metrics_even_from_loopback(metrics_token, host):
    metrics_token(TOKEN)
    client = client_from(host)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    cases = [
        ({}, "missing_token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "wrong_token"),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, "wrong_token"),
        ({"Authorization": f"Basic {TOKEN}"}, "missing_token"),
        ({"Authorization": "Bearer "}, "missing_token"),
    ]
    for headers, reason in cases:
        before = refused(reason)
        response = client.get("/metrics", headers=headers)
        body = assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(body) == {"error", "message"} and TOKEN not in response.text
        assert refused(reason) - before == 1, headers


def test_readiness_and_health_stay_open(metrics_token):
    metrics_token(TOKEN)
    client = client_from("203.0.113.7", FakeService())
    assert client.get("/readiness").status_code == 200
    assert client.get("/health").status_code == 200


def test_bearer_and_loopback_parsing():
    request = SimpleNamespace(headers={"authorization": "Bearer  abc "})
    assert bearer_token(request) == "abc"
    assert bearer_token(SimpleNamespace(headers={})) is None
    assert [is_loopback(h) for h in ("127.0.0.1", "[::1]", None, "", "0.0.0.0", "::")] == [True, True, False, False, False, False]


# --- /health tells nothing secret --------------------------------------------------------

SECRETS = ["redis://:hunter2@cache.internal:6379/0", "db.internal", "5432", "hunter2", "sk-live-key"]


def failing(message: str):
    def probe():
        raise ConnectionError(message)

    return probe


class DownRedis(RedisCache):
    def __init__(self) -> None:  # no client: the probe fails with a URL in its text
        pass

    def ping(self) -> None:
        failing("Error connecting to redis://:hunter2@cache.internal:6379/0")()


class ProbingService(FakeService):
    """health() runs the real check on stores that fail with secrets in their errors."""

    async def health(self):
        context = SimpleNamespace(
            database=SimpleNamespace(ping=failing("could not connect to db.internal:5432 password=hunter2")),
            policy_kb=SimpleNamespace(count=failing("http://chroma.internal:8000 api_key=sk-live-key")),
            cache=DownRedis(),
            invoices=SimpleNamespace(status=lambda: "open"),
            llm=SimpleNamespace(status=lambda: "closed"),
        )
        return await check_health(context)


def test_health_names_only_statuses_and_latencies():
    response = client_from("203.0.113.7", ProbingService()).get("/health")
    assert response.status_code == 200
    body = response.json()
    for secret in SECRETS:
        assert secret not in response.text, secret
    assert set(body) == {"status", "timestamp", "version", "database", "redis", "chromadb", "latency_ms", "circuit_breakers"}
    states = {"connected", "disconnected", "not_loaded", "not_configured"}
    assert body["status"] == "degraded"
    assert {body["database"], body["redis"], body["chromadb"]} <= states
    assert set(body["latency_ms"]) == {"database", "chromadb", "redis"}
    assert all(isinstance(ms, (int, float)) for ms in body["latency_ms"].values())
    assert set(body["circuit_breakers"].values()) <= {"open", "closed", "half-open", "half_open", "not_configured"}
    # Nothing in it is free text: every string is a known word, the version or the time.
    words = states | {"degraded", "open", "closed", "half-open", "half_open", "not_configured"}
    strings = [v for v in json.loads(response.text, object_hook=lambda d: d).values() if isinstance(v, str)]
    assert all(s in words or s in (body["version"], body["timestamp"]) for s in strings), strings


def test_health_of_a_failed_load_does_not_repeat_its_error():
    client = client_from("203.0.113.7")
    client.app.state.bot.error = "connection to postgresql://tria:hunter2@db.internal:5432/tria failed"
    response = client.get("/health")
    assert response.json()["status"] == "unhealthy"
    assert "hunter2" not in response.text and "db.internal" not in response.text
