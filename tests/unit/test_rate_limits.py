"""Rate limits (tria_graph.adapters.rate_limits, server/limits.py) on limits' in-process
storage with a fixed clock, and their 429 answers through the app with a fake service."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import limits.storage.memory
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError

from server.limits import OutletDep, limit_outlet
from tests.support.auth import bearer
from tests.unit.test_server_errors import TURN, FakeService, assert_error, client_for
from tria_graph.adapters.rate_limits import ADDRESS, CUSTOMER, LOGIN, RateLimited, RateLimits, login_key
from tria_graph.config import Settings, get_settings


class FixedClock:
    """time.time for limits' MemoryStorage and for RateLimits: moves only when told."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FixedClock:
    fixed = FixedClock()
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=fixed.time))
    return fixed


def limiter(clock, **rules) -> RateLimits:
    return RateLimits({CUSTOMER: "3/minute", ADDRESS: "5/minute", LOGIN: "2/minute", **rules}, clock=clock)


def outcomes(check, key: str, n: int) -> list:
    """n checks of `key`: "ok", or the Retry-After of the refusal."""
    out = []
    for _ in range(n):
        try:
            asyncio.run(check(key))
            out.append("ok")
        except RateLimited as refused:
            out.append(refused.retry_after)
    return out


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_limit_refuses_with_the_seconds_until_the_window_frees(clock):
    limits = limiter(clock)
    assert outcomes(limits.check_customer, "OUT-001", 4) == ["ok", "ok", "ok", 60]
    clock.now += 45  # the first three are 45 s old: the oldest leaves the window in 15 s
    assert outcomes(limits.check_customer, "OUT-001", 1) == [15]
    clock.now += 14.5
    assert outcomes(limits.check_customer, "OUT-001", 1) == [1]  # rounded up, never 0
    clock.now += 0.6  # the window moved past the first three
    assert outcomes(limits.check_customer, "OUT-001", 4) == ["ok", "ok", "ok", 60]


def test_a_moving_window_has_no_burst_at_a_window_edge(clock):
    limits = limiter(clock)
    assert outcomes(limits.check_customer, "OUT-001", 2) == ["ok", "ok"]
    clock.now += 50
    assert outcomes(limits.check_customer, "OUT-001", 2) == ["ok", 10]  # 3 in any 60 s
    clock.now += 10.01  # a request exactly 60 s old still counts
    assert outcomes(limits.check_customer, "OUT-001", 3) == ["ok", "ok", 50]


def test_one_outlets_burst_never_slows_another(clock):
    limits = limiter(clock)
    assert outcomes(limits.check_customer, "OUT-001", 10)[3:] == [60] * 7
    assert outcomes(limits.check_customer, "OUT-002", 3) == ["ok", "ok", "ok"]
    # The same string under another limit is another counter too.
    assert outcomes(limits.check_address, "OUT-001", 5) == ["ok"] * 5


def test_refusals_are_counted_per_limit(clock):
    limits = limiter(clock)
    before = counter("tria_rate_limited_total", limit="login")
    outcomes(limits.check_login, "buyer@outlet.sg", 5)
    assert counter("tria_rate_limited_total", limit="login") - before == 3


def test_login_attempts_count_per_normalised_email_and_no_email_is_kept(clock, caplog):
    limits = limiter(clock)
    assert outcomes(limits.check_login, "Buyer@Outlet.sg", 1) == ["ok"]
    assert outcomes(limits.check_login, "  buyer@outlet.sg ", 2) == ["ok", 60]
    assert outcomes(limits.check_login, "other@outlet.sg", 2) == ["ok", "ok"]
    keys = list(limits.storage.events)
    assert keys and not any("outlet.sg" in k for k in keys), keys
    assert any(login_key("buyer@outlet.sg") in k for k in keys)
    assert "outlet.sg" not in caplog.text and "rate limited: login" in caplog.text


def test_disabled_limits_never_refuse(clock):
    limits = RateLimits({CUSTOMER: "1/minute"}, enabled=False, clock=clock)
    assert outcomes(limits.check_customer, "OUT-001", 5) == ["ok"] * 5


def test_a_bad_rule_fails_when_settings_load():
    with pytest.raises(ValidationError, match="RATE_LIMIT_CUSTOMER"):
        Settings(RATE_LIMIT_CUSTOMER="thirty a minute")
    assert Settings(RATE_LIMIT_LOGIN=" 5 per 10 seconds ").rate_limit_login == "5 per 10 seconds"


# --- through the app (a fake service: no model) --------------------------------------------


@pytest.fixture
def env(monkeypatch):
    """Set settings for the app under test (get_settings is cached)."""

    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "true")
    yield set_
    get_settings.cache_clear()


def turn(client: TestClient, customer: str = "OUT-001", route: str = "chatbot"):
    """One request as `customer` (its own token)."""
    headers = bearer(customer)
    if route == "transcript":
        return client.get("/api/sessions/s-1/messages", params={"customer_id": customer}, headers=headers)
    path = "/api/chatbot" if route == "chatbot" else "/api/chatbot/stream"
    return client.post(path, json={**TURN, "customer_id": customer}, headers=headers)


def test_the_outlet_limit_answers_429_with_retry_after_on_every_route(env):
    env(RATE_LIMIT_CUSTOMER="3/minute", RATE_LIMIT_ADDRESS="100/minute")
    client = client_for(FakeService())
    # One outlet's count, whichever route it uses (body or query customer_id).
    assert [turn(client, route=r).status_code for r in ("chatbot", "stream", "transcript")] == [200, 200, 200]
    for route in ("chatbot", "stream", "transcript"):
        refused = turn(client, route=route)
        body = assert_error(refused, 429, "rate_limited")
        assert set(body) == {"error", "message"} and "this outlet" in body["message"]
        assert 55 <= int(refused.headers["retry-after"]) <= 60
    # Another outlet, same client address: untouched.
    assert [turn(client, "OUT-002").status_code for _ in range(3)] == [200, 200, 200]
    assert turn(client, "OUT-002").status_code == 429


def test_the_address_limit_covers_every_outlet_and_malformed_requests(env):
    env(RATE_LIMIT_CUSTOMER="100/minute", RATE_LIMIT_ADDRESS="4/minute")
    client = client_for(FakeService())
    statuses = [turn(client, f"OUT-00{n}").status_code for n in range(1, 4)]
    statuses.append(client.post("/api/chatbot", json={"message": ""}).status_code)  # a 422
    assert statuses == [200, 200, 200, 422]
    refused = turn(client, "OUT-009")
    assert "your address" in assert_error(refused, 429, "rate_limited")["message"]
    assert refused.headers["retry-after"] == "60"
    # Operations are never limited.
    assert client.get("/health").status_code == 200 and client.get("/readiness").status_code == 200
    # Another address has its own count.
    other = TestClient(client.app, client=("203.0.113.7", 40000), raise_server_exceptions=False)
    assert turn(other, "OUT-009").status_code == 200


def test_limits_are_checked_before_the_service_and_off_with_rate_limit_enabled_false(env):
    env(RATE_LIMIT_ADDRESS="1/minute")
    loading = client_for()  # no service yet: 503, but the address is still counted
    assert turn(loading).status_code == 503
    assert turn(loading).status_code == 429
    env(RATE_LIMIT_CUSTOMER="1/minute", RATE_LIMIT_ADDRESS="1/minute", RATE_LIMIT_ENABLED="false")
    client = client_for(FakeService())
    assert [turn(client).status_code for _ in range(5)] == [200] * 5


def test_request_outlet_is_the_one_source_of_the_outlet(env):
    """What the per-outlet limit keys on: the token's outlet, whatever the body says."""
    seen = []

    async def spy(outlet: OutletDep) -> None:
        seen.append(outlet)

    env(RATE_LIMIT_CUSTOMER="100/minute")
    client = client_for(FakeService())
    client.app.dependency_overrides[limit_outlet] = spy
    assert turn(client, "OUT-004").status_code == 200
    assert turn(client, "OUT-005", route="transcript").status_code == 200
    other = client.post("/api/chatbot", json={**TURN, "customer_id": "OUT-009"}, headers=bearer("OUT-006"))
    assert other.status_code == 403  # the route refuses acting for another outlet
    unreadable = client.post("/api/chatbot", content=b"{not json", headers={"content-type": "application/json"})
    assert unreadable.status_code == 422  # refused before any dependency runs
    assert seen == ["OUT-004", "OUT-005", "OUT-006"]


def test_login_is_limited_per_email_before_the_password_is_checked(env):
    from tria_graph.auth import Unauthorized

    env(RATE_LIMIT_LOGIN="2/minute", RATE_LIMIT_ADDRESS="100/minute")
    client = client_for(FakeService())
    tried = []

    def wrong_password(email: str, password: str):
        tried.append(email)
        raise Unauthorized("bad_credentials")

    client.app.state.bot.auth.login = wrong_password
    attempt = {"email": "owner@out-001.example", "password": "guess-123456"}
    statuses = [client.post("/api/auth/login", json=attempt).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert len(tried) == 2, "the refused attempt never reached the password check"
    other = client.post("/api/auth/login", json={**attempt, "email": "owner@out-002.example"})
    assert other.status_code == 401, "another email has its own count"
