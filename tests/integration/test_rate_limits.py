"""Rate limits through the whole app: real turns answered 429 with Retry-After per outlet,
two app instances ("replicas") sharing their counts through Redis (turns, and login
attempts: brute force), and Redis down failing open (every request answered, the
failure counted)."""

from __future__ import annotations

from contextlib import ExitStack, asynccontextmanager

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

import server.main as server_app
from tests.integration.test_server import private_var, serving, wait_ready
from tests.support import backends
from tests.support.auth import bearer, signer
from tests.support.servers import free_port
from tests.unit.test_server_errors import TURN, FakeService, NoAudit
from tria_graph.auth import Authenticator, passwords
from tria_graph.auth.store import User
from tria_graph.config import get_settings

EMAIL, PASSWORD = "owner@out-001.example", "the right password"


def say(client, customer: str, message: str = "what are your delivery days", session: str = "rl-1"):
    return client.post("/api/chatbot", json={"message": message, "session_id": f"{session}-{customer}", "customer_id": customer})


def test_real_turns_are_limited_per_outlet_with_retry_after(seeded_var, tmp_path):
    var = private_var(seeded_var, tmp_path / "var")
    env = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_CUSTOMER": "3/minute", "RATE_LIMIT_ADDRESS": "100/minute"}
    with serving(var, env=env) as client:
        wait_ready(client)
        assert [say(client, "OUT-001").status_code for _ in range(3)] == [200, 200, 200]
        refused = say(client, "OUT-001")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Its transcript is the same outlet's request: refused too; other outlets are not slowed.
        assert client.get("/api/sessions/rl-1-OUT-001/messages", params={"customer_id": "OUT-001"}).status_code == 429
        assert [say(client, "OUT-002").status_code for _ in range(3)] == [200, 200, 200]
        # OUT-002's fourth request, a transcript read: its own count is used up too.
        other = client.get("/api/sessions/rl-1-OUT-002/messages", params={"customer_id": "OUT-002"})
        assert other.status_code == 429
        metrics = client.get("/metrics").status_code
    assert metrics == 403  # TestClient is no loopback client and no METRICS_TOKEN is set


class FakeContext:
    class database:
        sessions = None  # the authenticator is SharedAuthenticator's (below)


@asynccontextmanager
async def fake_service(settings=None):
    service = FakeService()
    service.context = FakeContext()
    yield service


class OneUser:
    """The auth store both replicas share (as they share the database): one customer
    user with PASSWORD, nothing revoked."""

    def __init__(self) -> None:
        self.user_ = User(1, EMAIL, "customer", "OUT-001", 0, False, passwords.hash_password(PASSWORD))
        self.checked = 0  # passwords checked: user_by_email precedes each check

    def user_by_email(self, email: str) -> User | None:
        self.checked += 1
        return self.user_ if email == EMAIL else None

    def user(self, user_id: int) -> User | None:
        return self.user_ if user_id == 1 else None

    def is_revoked(self, jti: str) -> bool:
        return False

    def rehash_password(self, user_id: int, password_hash: str) -> None:
        pass


@pytest.fixture
def store() -> OneUser:
    return OneUser()


@pytest.fixture
def replicas(monkeypatch, store):
    """`start(**env)`: two instances of the app, each with its own lifespan (its own
    RateLimits), a fake service and an authenticator on the shared `store`, on the
    settings `env`."""
    monkeypatch.setattr(server_app, "open_chat_service", fake_service)

    class SharedAuthenticator:
        @staticmethod
        def from_settings(settings, sessions):
            return Authenticator(signer(), store, NoAudit())

    monkeypatch.setattr(server_app, "Authenticator", SharedAuthenticator)
    stack = ExitStack()

    def start(**env: str) -> list[TestClient]:
        for name, value in {"RATE_LIMIT_ENABLED": "true", **env}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        clients = [stack.enter_context(TestClient(server_app.create_app(), raise_server_exceptions=False)) for _ in range(2)]
        for client in clients:
            wait_ready(client)
        return clients

    yield start
    stack.close()
    get_settings.cache_clear()


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def turn(client: TestClient, customer: str) -> int:
    return client.post("/api/chatbot", json={**TURN, "customer_id": customer}, headers=bearer(customer)).status_code


def test_two_replicas_share_their_counts_through_redis(replicas, redis_prefix):
    a, b = replicas(REDIS_URL=backends.REDIS_URL, REDIS_KEY_PREFIX=redis_prefix,
                    RATE_LIMIT_CUSTOMER="4/minute", RATE_LIMIT_ADDRESS="100/minute")
    assert [turn(a, "OUT-001"), turn(b, "OUT-001"), turn(a, "OUT-001"), turn(b, "OUT-001")] == [200] * 4
    assert turn(a, "OUT-001") == 429 and turn(b, "OUT-001") == 429
    assert turn(b, "OUT-002") == 200  # its own count
    refused = b.post("/api/chatbot", json=TURN, headers=bearer("OUT-001"))
    assert 55 <= int(refused.headers["retry-after"]) <= 60
    # The counters are in Redis, under the prefix.
    client = backends.require_redis()
    keys = [k.decode() for k in client.scan_iter(f"{redis_prefix}:ratelimit:*")]
    client.close()
    assert any("OUT-001" in k for k in keys) and any("OUT-002" in k for k in keys), keys


def test_redis_down_fails_open_and_is_counted(replicas):
    before = counter("tria_rate_limit_errors_total", limit="customer")
    a, b = replicas(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", RATE_LIMIT_CUSTOMER="1/minute")
    assert [turn(a, "OUT-001") for _ in range(4)] + [turn(b, "OUT-001") for _ in range(4)] == [200] * 8
    assert counter("tria_rate_limit_errors_total", limit="customer") - before == 8


def login(client: TestClient, email: str = EMAIL, password: str = "a wrong guess"):
    return client.post("/api/auth/login", json={"email": email, "password": password})


@pytest.mark.parametrize("limit", [3, 5])
def test_brute_force_on_one_email_is_limited_across_replicas_through_redis(replicas, redis_prefix, store, limit):
    """Guesses for one email, alternating between two replicas: RATE_LIMIT_LOGIN in all
    (their counts are shared in Redis), then 429 with Retry-After on both, and the right
    password is refused too (the limit is checked before the password). Another email,
    and the same email's other limits (a turn), are not affected."""
    a, b = replicas(REDIS_URL=backends.REDIS_URL, REDIS_KEY_PREFIX=redis_prefix,
                    RATE_LIMIT_LOGIN=f"{limit}/minute", RATE_LIMIT_ADDRESS="1000/minute")
    guesses = [login(a if i % 2 == 0 else b).status_code for i in range(limit)]
    assert guesses == [401] * limit
    assert store.checked == limit
    for replica in (a, b):
        refused = login(replica)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        right = login(replica, password=PASSWORD)
        assert right.status_code == 429, "the right password once the email is over its limit"
    assert store.checked == limit, "no password was checked past the limit"
    # Another email has its own count, on either replica; so does the outlet's chat.
    assert login(a, "someone@else.example").status_code == 401
    assert login(b, "someone@else.example").status_code == 401
    assert turn(a, "OUT-001") == 200
    # The login counter is in Redis under the prefix, keyed by a hash (no email in clear).
    client = backends.require_redis()
    keys = [k.decode() for k in client.scan_iter(f"{redis_prefix}:ratelimit:*")]
    client.close()
    assert any("login" in k for k in keys) and not any(EMAIL in k for k in keys), keys


def test_the_right_password_logs_in_under_the_limit(replicas, redis_prefix):
    a, b = replicas(REDIS_URL=backends.REDIS_URL, REDIS_KEY_PREFIX=redis_prefix, RATE_LIMIT_LOGIN="2/minute")
    assert login(a).status_code == 401
    ok = login(b, password=PASSWORD)
    assert ok.status_code == 200, ok.text
    token = ok.json()["access_token"]
    assert a.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["outlet_id"] == "OUT-001"
    assert login(a, password=PASSWORD).status_code == 429
