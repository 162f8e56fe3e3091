"""Identity and access over HTTP: the authorization matrix over every route, login with
the cookie and CSRF, logout, set-password, API key rotation, revocation, the audit log.

One server (module scope, the seeded demo users) serves every test; the in-process
Authenticator (app.state.bot.auth) creates the users and keys a test needs.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.integration.test_server import assert_error, private_var, serving, wait_ready
from tests.support.auth import TEST_SIGNING_KEYS, bearer
from tria_graph.auth import TokenSigner
from tria_graph.auth.tokens import SigningKey, parse_keys
from tria_graph.demo_data import DEMO_PASSWORD

TEST_KID = parse_keys(TEST_SIGNING_KEYS)[0].kid
OWNED = "mx-owned"  # a session of OUT-001
METRICS_TOKEN = "m" * 40


@pytest.fixture(scope="module")
def client(seeded_var, tmp_path_factory):
    var = private_var(seeded_var, tmp_path_factory.mktemp("auth") / "var")
    # /metrics as deployed behind a proxy: METRICS_TOKEN set (the TestClient is no loopback peer).
    with serving(var, auth=False, env={"METRICS_TOKEN": METRICS_TOKEN}) as client:
        wait_ready(client)
        opened = client.post("/api/chatbot", json={"message": "hello", "session_id": OWNED}, headers=bearer("OUT-001"))
        assert opened.status_code == 200, opened.text
        yield client


@pytest.fixture(scope="module")
def auth(client):
    return client.app.state.bot.auth


def login(client, email: str, password: str = DEMO_PASSWORD, keep_cookies: bool = False):
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    if not keep_cookies:  # only the cookie tests browse with the login cookies
        client.cookies.clear()
    return response


def token_of(client, email: str) -> str:
    response = login(client, email)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


# --- the matrix -------------------------------------------------------------------------


def credentials(client, auth, name: str) -> dict:
    """Headers for each kind of caller the matrix tries."""
    if name == "none":
        return {}
    if name == "malformed":
        return {"Authorization": "Bearer not.a.token"}
    if name == "not-bearer":
        return {"Authorization": "Basic b3duZXI6cGFzcw=="}
    if name == "forged":  # our kid, another secret
        forger = TokenSigner([SigningKey(TEST_KID, "f" * 48)])
        return {"Authorization": "Bearer " + forger.issue("outlet:OUT-001", timedelta(hours=1), outlet_id="OUT-001")}
    if name == "expired":
        past = TokenSigner(parse_keys(TEST_SIGNING_KEYS), clock=lambda: time.time() - 7200)
        return {"Authorization": "Bearer " + past.issue("outlet:OUT-001", timedelta(hours=1), outlet_id="OUT-001")}
    if name == "revoked":
        token = token_of(client, "owner@out-001.example")
        assert client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        return {"Authorization": f"Bearer {token}"}
    if name == "other-outlet":
        return bearer("OUT-002")
    if name == "right-outlet":
        return bearer("OUT-001")
    if name == "user-of-outlet":
        return {"Authorization": "Bearer " + token_of(client, "owner@out-001.example")}
    if name == "api-key":
        return {"X-API-Key": auth.create_api_key("matrix")[0]}
    if name == "api-key-no-scope":
        return {"X-API-Key": auth.create_api_key("matrix-noscope", frozenset())[0]}
    if name == "revoked-api-key":
        key = auth.create_api_key("matrix-revoked")[0]
        auth.revoke_api_keys("matrix-revoked")
        return {"X-API-Key": key}
    if name == "staff":
        return {"Authorization": "Bearer " + token_of(client, "ops@tria.example")}
    if name == "admin":
        return {"Authorization": "Bearer " + token_of(client, "admin@tria.example")}
    if name == "metrics-token":
        return {"Authorization": f"Bearer {METRICS_TOKEN}"}
    raise ValueError(name)


def call(client, route: str, headers: dict, customer: str | None = "OUT-001"):
    named = {"customer_id": customer} if customer else {}
    if route == "chatbot":
        return client.post("/api/chatbot", json={"message": "hello", "session_id": OWNED, **named}, headers=headers)
    if route == "stream":
        return client.post("/api/chatbot/stream", json={"message": "hello", "session_id": OWNED, **named}, headers=headers)
    if route == "transcript":
        return client.get(f"/api/sessions/{OWNED}/messages", params=named, headers=headers)
    if route == "audit":
        return client.get("/api/admin/audit", headers=headers)
    if route == "me":
        return client.get("/api/auth/me", headers=headers)
    if route == "login":  # public: the body's email and password are the credentials
        response = client.post("/api/auth/login", json={"email": "owner@out-002.example", "password": DEMO_PASSWORD},
                               headers=headers)
        client.cookies.clear()
        return response
    if route == "set-password":  # public: the body's one-time token is the credential
        return client.post("/api/auth/set-password", json={"token": "not-a-link", "password": "a long new password"},
                           headers=headers)
    if route in ("health", "readiness", "metrics"):
        return client.get(f"/{route}", headers=headers)
    if route == "logout":  # last: it revokes the token it carries
        return client.post("/api/auth/logout", headers=headers)
    raise ValueError(route)


# Every route of the app, in the order each row of credentials tries them (logout last).
ROUTES = {
    "chatbot": "POST /api/chatbot",
    "stream": "POST /api/chatbot/stream",
    "transcript": "GET /api/sessions/{id}/messages",
    "audit": "GET /api/admin/audit",
    "me": "GET /api/auth/me",
    "login": "POST /api/auth/login",
    "set-password": "POST /api/auth/set-password",
    "health": "GET /health",
    "readiness": "GET /readiness",
    "metrics": "GET /metrics",
    "logout": "POST /api/auth/logout",
}
# credentials: expected status on each route, in ROUTES' order. docs/security.md shows
# this table (routes x credentials); test_the_matrix_in_the_docs_is_this_one keeps them equal.
MATRIX = {
    #                  chat stream trans audit  me  login setpw health ready metrics logout
    "none":             (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "malformed":        (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "not-bearer":       (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "forged":           (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "expired":          (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "revoked":          (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "revoked-api-key":  (401, 401, 401, 401, 401, 200, 401, 200, 200, 401, 401),
    "other-outlet":     (403, 403, 403, 403, 200, 200, 401, 200, 200, 401, 204),
    "right-outlet":     (200, 200, 200, 403, 200, 200, 401, 200, 200, 401, 204),
    "user-of-outlet":   (200, 200, 200, 403, 200, 200, 401, 200, 200, 401, 204),
    "api-key":          (200, 200, 200, 403, 200, 200, 401, 200, 200, 401, 403),
    "api-key-no-scope": (403, 403, 403, 403, 200, 200, 401, 200, 200, 401, 403),
    "staff":            (403, 403, 403, 403, 200, 200, 401, 200, 200, 401, 204),
    "admin":            (403, 403, 403, 200, 200, 200, 401, 200, 200, 401, 204),
    "metrics-token":    (401, 401, 401, 401, 401, 200, 401, 200, 200, 200, 401),
}
# What each row sends (the docs' legend).
CREDENTIALS = {
    "none": "no credentials",
    "malformed": "`Bearer not.a.token`",
    "not-bearer": "`Authorization: Basic ...`",
    "forged": "a token with our kid, signed with another secret",
    "expired": "a token that expired an hour ago",
    "revoked": "a user's token after its logout",
    "revoked-api-key": "an API key after `tria apikey revoke`",
    "other-outlet": "OUT-002's token, on OUT-001's session / customer_id",
    "right-outlet": "OUT-001's token (`tria token --customer OUT-001`)",
    "user-of-outlet": "OUT-001's owner, logged in",
    "api-key": "an API key (chat scope) naming customer_id OUT-001",
    "api-key-no-scope": "an API key without the chat scope",
    "staff": "a staff user (ops@), logged in",
    "admin": "an administrator, logged in",
    "metrics-token": "`Bearer $METRICS_TOKEN`",
}
# Observed statuses, filled in by test_authorization_matrix (scripts/auth_matrix.py writes them).
OBSERVED: dict[str, dict[str, int]] = {}


@pytest.mark.parametrize("who", MATRIX)
def test_authorization_matrix(client, auth, who):
    headers = credentials(client, auth, who)
    seen = OBSERVED.setdefault(who, {})
    for route, expected in zip(ROUTES, MATRIX[who]):
        response = call(client, route, headers)
        seen[route] = response.status_code
        assert response.status_code == expected, f"{who} on {route}: {response.status_code} {response.text}"
        if expected == 401:
            body = assert_error(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
        elif expected == 403:
            assert_error(response, 403, "forbidden")


def matrix_table(matrix: dict[str, tuple[int, ...]]) -> str:
    """The matrix as docs/security.md shows it: a row per route, a column per credential."""
    who = list(matrix)
    lines = ["| route | " + " | ".join(who) + " |", "|---|" + "---|" * len(who)]
    for i, (route, label) in enumerate(ROUTES.items()):
        lines.append(f"| `{label}` | " + " | ".join(str(matrix[w][i]) for w in who) + " |")
    return "\n".join(lines)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"
BEGIN, END = "<!-- auth-matrix: begin (scripts/auth_matrix.py) -->", "<!-- auth-matrix: end -->"


def test_the_matrix_in_the_docs_is_this_one():
    text = DOCS.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/security.md has no matrix block: run scripts/auth_matrix.py"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == matrix_table(MATRIX), "docs/security.md's matrix differs from MATRIX: run scripts/auth_matrix.py"


def test_the_token_names_the_outlet_and_another_outlet_in_the_body_is_403(client):
    mine = client.post("/api/chatbot", json={"message": "where is my order", "session_id": "mx-mine"},
                       headers=bearer("OUT-002"))
    assert mine.status_code == 200, mine.text
    listed = client.get("/api/sessions/mx-mine/messages", headers=bearer("OUT-002"))
    assert listed.json()["customer_id"] == "OUT-002"
    other = call(client, "chatbot", bearer("OUT-002"), customer="OUT-003")
    assert "own outlet" in assert_error(other, 403, "forbidden")["message"]


def test_an_api_key_must_name_the_customer(client, auth):
    key = auth.create_api_key("needs-customer")[0]
    for route in ("chatbot", "stream", "transcript"):
        response = call(client, route, {"X-API-Key": key}, customer=None)
        assert "customer_id" in assert_error(response, 422, "invalid_request")["message"]


@pytest.mark.parametrize("header", [
    b"Bearer " + b"A" * 20_000,
    "Bearer ééé".encode("latin-1"),
    b"Bearer \xff\xfe\x00",
    b"Bearer",
    b"bearer  ",
    b"Bearer a.b",
    b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    b"\xe2\x98\x83",
])
def test_garbage_in_the_authorization_header_is_401_never_500(client, header):
    response = client.post("/api/chatbot", json={"message": "hi", "session_id": "mx-garbage"},
                           headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize("key", [b"x" * 20_000, b"tria_\xff\xfe", b"tria_", b""])
def test_garbage_api_keys_are_401(client, key):
    response = client.post("/api/chatbot", json={"message": "hi", "session_id": "mx-garbage", "customer_id": "OUT-001"},
                           headers={"X-API-Key": key})
    assert_error(response, 401, "unauthorized")


def test_failures_are_counted_by_reason_and_never_log_the_token(client, caplog):
    def count(reason):
        return REGISTRY.get_sample_value("tria_auth_failures_total", {"reason": reason}) or 0.0

    expired = credentials(client, None, "expired")
    before = count("expired"), count("missing")
    with caplog.at_level(logging.DEBUG):
        assert call(client, "chatbot", expired).status_code == 401
        assert call(client, "chatbot", {}).status_code == 401
    assert (count("expired"), count("missing")) == (before[0] + 1, before[1] + 1)
    token = expired["Authorization"].split()[1]
    assert "expired" in caplog.text and token not in caplog.text


# --- login, the cookie and CSRF ---------------------------------------------------------


def test_login_wrong_password_or_unknown_email_is_401(client):
    assert_error(login(client, "owner@out-001.example", "wrong password"), 401, "unauthorized")
    assert_error(login(client, "nobody@example.com", "whatever123"), 401, "unauthorized")
    assert_error(client.post("/api/auth/login", json={"email": "x"}), 422, "invalid_request")


def test_login_sets_an_httponly_strict_cookie_and_a_csrf_cookie(client, monkeypatch):
    from tria_graph.config import get_settings

    monkeypatch.setenv("AUTH_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    try:
        response = login(client, "owner@out-001.example")
    finally:
        monkeypatch.setenv("AUTH_COOKIE_SECURE", "false")
        get_settings.cache_clear()
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["role"], body["outlet_id"], body["token_type"]) == ("customer", "OUT-001", "bearer")
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    session, csrf = cookies["tria_session"], cookies["tria_csrf"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api"):
        assert attribute.lower() in session.lower(), session
    assert "httponly" not in csrf.lower() and "samesite=strict" in csrf.lower() and "secure" in csrf.lower()
    assert body["csrf_token"] in csrf
    client.cookies.clear()


def test_a_cookie_post_needs_the_csrf_header_and_a_get_does_not(client):
    response = login(client, "owner@out-001.example", keep_cookies=True)
    csrf = response.json()["csrf_token"]
    assert client.cookies.get("tria_session")
    try:
        turn = {"message": "hello", "session_id": OWNED}
        assert_error(client.post("/api/chatbot", json=turn), 403, "csrf_failed")
        assert_error(client.post("/api/chatbot", json=turn, headers={"X-CSRF-Token": "guess"}), 403, "csrf_failed")
        ok = client.post("/api/chatbot", json=turn, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200, ok.text
        assert client.get(f"/api/sessions/{OWNED}/messages").status_code == 200
        # Logout with the cookie revokes it and clears the cookies.
        assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    finally:
        client.cookies.clear()


def test_logout_revokes_only_that_token(client):
    first, second = token_of(client, "owner@out-004.example"), token_of(client, "owner@out-004.example")
    assert client.post("/api/auth/logout", headers={"Authorization": f"Bearer {first}"}).status_code == 204
    assert_error(client.get("/api/auth/me", headers={"Authorization": f"Bearer {first}"}), 401)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_set_password_once_then_log_in(client, auth):
    user = auth.add_user("new@out-005.example", "customer", "OUT-005", None)
    assert_error(login(client, "new@out-005.example", "anything-at-all"), 401)
    link = auth.set_password_token(user)
    assert_error(client.post("/api/auth/set-password", json={"token": link, "password": "short"}), 422)
    assert client.post("/api/auth/set-password", json={"token": link, "password": "a long new password"}).status_code == 204
    token = token_of_password(client, "new@out-005.example", "a long new password")
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["outlet_id"] == "OUT-005"
    # The link works once; an access token is no set-password link.
    assert_error(client.post("/api/auth/set-password", json={"token": link, "password": "another password!"}), 401)
    assert_error(client.post("/api/auth/set-password", json={"token": token, "password": "another password!"}), 401)


def token_of_password(client, email, password) -> str:
    response = login(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_revoking_a_user_revokes_all_their_tokens(client, auth):
    token = token_of(client, "owner@out-006.example")
    auth.revoke_user("owner@out-006.example")
    assert_error(client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}), 401)
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token_of(client, 'owner@out-006.example')}"}).status_code == 200


def test_api_keys_rotate_without_downtime(client, auth):
    old, old_record = auth.create_api_key("whatsapp")
    new, _ = auth.create_api_key("whatsapp")
    for key in (old, new):
        assert call(client, "transcript", {"X-API-Key": key}).status_code == 200
    assert auth.revoke_api_keys("whatsapp", old_record.id) == [old_record.id]
    assert_error(call(client, "transcript", {"X-API-Key": old}), 401)
    assert call(client, "transcript", {"X-API-Key": new}).status_code == 200
    stored = [k for k in auth.store.api_keys("whatsapp")]
    assert len(stored) == 2 and all(not hasattr(k, "key") for k in stored)


# --- the audit log ----------------------------------------------------------------------


def test_the_audit_log_records_who_placed_an_order_and_never_a_secret(client, auth):
    token = token_of(client, "owner@out-003.example")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/chatbot", json={"message": "I need 200 12 inch pizza boxes", "session_id": "mx-order"},
                       headers=headers).json()["pending_confirmation"] is True
    placed = client.post("/api/chatbot", json={"message": "yes", "session_id": "mx-order"}, headers=headers).json()
    number = placed["order"]["number"]
    key, _ = auth.create_api_key("audited")

    response = client.get("/api/admin/audit", params={"limit": 50},
                          headers={"Authorization": "Bearer " + token_of(client, "admin@tria.example")})
    assert response.status_code == 200, response.text
    entries = response.json()
    actions = {(e["action"], e["actor"], e["target"]) for e in entries}
    assert ("order.placed", "owner@out-003.example", number) in actions
    assert ("login", "owner@out-003.example", None) in actions
    assert ("api_key.created", "cli", "audited") in actions
    text = response.text
    for secret in (token, key, DEMO_PASSWORD):
        assert secret not in text


def test_audit_times_carry_their_zone(client, auth):
    """Found by schemathesis (tests/integration/test_fuzz_http.py): SQLite returned the
    times without a zone, which is no RFC 3339 date-time, as the schema says."""
    auth.audit.record(("cli", "cli"), "zone.check")
    response = client.get("/api/admin/audit", params={"action": "zone.check"},
                          headers={"Authorization": "Bearer " + token_of(client, "admin@tria.example")})
    at = response.json()[0]["at"]
    assert at.endswith(("Z", "+00:00")), at
