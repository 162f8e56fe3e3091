"""The `tria` commands of identity and access, on a private copy of the seeded database:
tokens for outlets and staff, users with a password or a set-password token, staff,
API keys (printed once, stored hashed, rotated), and what the audit log says."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.conftest import db_rows
from tria_graph.auth import Authenticator, TokenSigner
from tria_graph.auth.api_keys import key_hash
from tria_graph.cli import app
from tria_graph.config import Settings, get_settings

KEYS = "cli-test:" + "c" * 48


@pytest.fixture
def tria(var_dir, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(var_dir))
    monkeypatch.setenv("AUTH_SIGNING_KEYS", KEYS)
    for name in ("DATABASE_URL", "CHECKPOINT_DB", "CHROMA_DIR", "CHROMA_HOST", "REDIS_URL"):
        monkeypatch.setenv(name, "")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args, input=None, ok=True):
        result = runner.invoke(app, list(args), input=input)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    get_settings.cache_clear()


def verify(token: str):
    return TokenSigner.from_settings(Settings()).verify(token)


def test_token_for_an_outlet_is_the_only_stdout_and_verifies(tria, var_dir):
    result = tria("token", "--customer", "OUT-001", "--ttl", "12h")
    token = result.stdout.strip()
    assert "\n" not in token
    claims = verify(token)
    assert (claims.outlet_id, claims.role, claims.expires_at - claims.issued_at) == ("OUT-001", "customer", 12 * 3600)
    assert tria("token", "--customer", "OUT-999", ok=False).exit_code != 0
    assert tria("token", ok=False).exit_code != 0
    rows = db_rows(var_dir, "SELECT actor_kind, action, target FROM audit_log")
    assert [tuple(r) for r in rows] == [("cli", "token.issued", "outlet:OUT-001")]
    assert token not in str(db_rows(var_dir, "SELECT * FROM audit_log"))


def test_user_add_with_a_password_from_stdin_logs_in(tria, var_dir):
    tria("user", "add", "--customer", "OUT-002", "--email", "Buyer@Out-002.example", "--password-stdin",
         input="a strong password\n")
    row = db_rows(var_dir, "SELECT email, role, outlet_id, password_hash FROM users WHERE email = 'buyer@out-002.example'")[0]
    assert (row.email, row.role, row.outlet_id) == ("buyer@out-002.example", "customer", "OUT-002")
    assert row.password_hash.startswith("$argon2id$") and "a strong password" not in row.password_hash
    issued = Authenticator.from_settings(Settings(), _sessions(var_dir)).login("buyer@out-002.example", "a strong password")
    assert issued.identity.outlet_id == "OUT-002"
    again = tria("user", "add", "--customer", "OUT-002", "--email", "buyer@out-002.example", ok=False)
    assert again.exit_code != 0 and "exists" in again.output
    weak = tria("user", "add", "--customer", "OUT-002", "--email", "w@x.example", "--password-stdin", input="short\n", ok=False)
    assert weak.exit_code != 0


def test_user_add_without_a_password_prints_a_one_time_set_password_token(tria, var_dir):
    result = tria("user", "add", "--customer", "OUT-003", "--email", "new@out-003.example")
    link = result.stdout.strip().splitlines()[-1]
    auth = Authenticator.from_settings(Settings(), _sessions(var_dir))
    user = auth.set_password(link, "chosen password")
    assert user.email == "new@out-003.example"
    assert auth.login("new@out-003.example", "chosen password").identity.outlet_id == "OUT-003"


def test_staff_and_their_tokens(tria):
    tria("staff", "add", "--email", "lead@tria.example", "--role", "admin", "--password-stdin", input="admin password!\n")
    claims = verify(tria("token", "--staff", "lead@tria.example").stdout.strip())
    assert (claims.role, claims.outlet_id) == ("admin", None)
    assert tria("token", "--staff", "owner@out-001.example", ok=False).exit_code != 0  # a customer, not staff
    assert tria("staff", "add", "--email", "x@tria.example", "--role", "king", ok=False).exit_code != 0


def test_api_keys_are_shown_once_stored_hashed_and_rotate(tria, var_dir):
    first = tria("apikey", "create", "--name", "whatsapp").stdout.strip()
    second = tria("apikey", "create", "--name", "whatsapp", "--scope", "chat").stdout.strip()
    assert first != second and first.startswith("tria_")
    rows = db_rows(var_dir, "SELECT id, key_hash, scopes, revoked_at FROM api_keys ORDER BY id")
    assert [r.key_hash for r in rows] == [key_hash(first), key_hash(second)]
    assert first not in str(rows) and second not in str(rows)
    auth = Authenticator.from_settings(Settings(), _sessions(var_dir))
    assert auth.authenticate_api_key(first).name == auth.authenticate_api_key(second).name == "whatsapp"

    tria("apikey", "revoke", "--name", "whatsapp", "--id", str(rows[0].id))
    with pytest.raises(Exception):
        auth.authenticate_api_key(first)
    assert auth.authenticate_api_key(second).scopes == frozenset({"chat"})
    listed = tria("apikey", "list").stdout
    assert "whatsapp" in listed and "revoked" in listed and first not in listed
    tria("apikey", "revoke", "--name", "whatsapp")
    assert tria("apikey", "revoke", "--name", "whatsapp", ok=False).exit_code == 1
    assert tria("apikey", "create", "--name", "x", "--scope", "everything", ok=False).exit_code != 0
    actions = [r.action for r in db_rows(var_dir, "SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["api_key.created", "api_key.created", "api_key.revoked", "api_key.revoked"]


def test_the_demo_seed_has_a_user_per_outlet_and_staff(var_dir):
    rows = db_rows(var_dir, "SELECT email, role, outlet_id FROM users ORDER BY id")
    customers = [r for r in rows if r.role == "customer"]
    assert len(customers) == 12 and customers[0].email == "owner@out-001.example" and customers[0].outlet_id == "OUT-001"
    assert {(r.email, r.role) for r in rows if r.role != "customer"} == {("ops@tria.example", "staff"), ("admin@tria.example", "admin")}


def test_auth_keygen_prints_a_usable_key(tria):
    from tria_graph.auth.tokens import parse_keys

    line = tria("auth", "keygen", "--kid", "k-2027").stdout.strip()
    assert parse_keys(line)[0].kid == "k-2027"


def _sessions(var_dir):
    from tria_graph.adapters.database import make_engine, session_factory

    return session_factory(make_engine(f"sqlite:///{var_dir / 'tria.db'}"))
