"""The auth domain without a database: password hashing, signed tokens (kid rotation,
expiry, forgery, audience), API keys, and who may act for which outlet."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import timedelta

import jwt
import pytest

from tria_graph.auth import Forbidden, CustomerRequired, Identity, TokenSigner, Unauthorized
from tria_graph.auth import api_keys, passwords
from tria_graph.auth.tokens import KeyConfigError, SigningKey, dev_key, parse_keys, signing_keys
from tria_graph.config import Settings

OLD = SigningKey("k-old", "o" * 40)
NEW = SigningKey("k-new", "n" * 40)
HOUR = timedelta(hours=1)


def outlet_token(signer: TokenSigner, outlet: str = "OUT-001", ttl: timedelta = HOUR) -> str:
    return signer.issue(f"outlet:{outlet}", ttl, role="customer", outlet_id=outlet)


def reason(signer: TokenSigner, token: str, **kwargs) -> str:
    with pytest.raises(Unauthorized) as caught:
        signer.verify(token, **kwargs)
    return caught.value.reason


# --- passwords ------------------------------------------------------------------------


def test_a_password_hash_is_argon2id_salted_and_verifies_only_the_password():
    first, second = passwords.hash_password("correct horse"), passwords.hash_password("correct horse")
    assert first.startswith("$argon2id$") and first != second  # salted
    assert "correct horse" not in first
    assert passwords.verify_password(first, "correct horse")
    assert not passwords.verify_password(first, "correct horsE")
    assert not passwords.verify_password(None, "correct horse")
    assert not passwords.verify_password("not a hash", "correct horse")
    assert not passwords.verify_password(first, "x" * 10_000)
    assert not passwords.needs_rehash(first)


def test_new_passwords_have_a_minimum_length():
    with pytest.raises(passwords.WeakPassword):
        passwords.check_new_password("short")
    passwords.check_new_password("long enough pass")


# --- tokens ---------------------------------------------------------------------------


def test_a_token_carries_the_standard_claims_and_the_kid():
    signer = TokenSigner([NEW], issuer="tria", audience="tria-api")
    token = outlet_token(signer)
    assert jwt.get_unverified_header(token)["kid"] == "k-new"
    payload = jwt.decode(token, NEW.secret, algorithms=["HS256"], audience="tria-api")
    assert {"iss", "aud", "sub", "iat", "exp", "jti"} <= set(payload)
    assert payload["exp"] - payload["iat"] == 3600
    claims = signer.verify(token)
    assert (claims.subject, claims.role, claims.outlet_id, claims.user_id) == ("outlet:OUT-001", "customer", "OUT-001", None)


def test_keys_rotate_the_first_signs_and_every_one_verifies():
    before = TokenSigner([OLD])
    during = TokenSigner([NEW, OLD])
    after = TokenSigner([NEW])
    old_token = outlet_token(before)
    assert during.verify(old_token).outlet_id == "OUT-001"  # still valid while both are listed
    new_token = outlet_token(during)
    assert jwt.get_unverified_header(new_token)["kid"] == "k-new"
    assert after.verify(new_token).outlet_id == "OUT-001"
    assert reason(after, old_token) == "unknown_key"  # the old key is gone


def test_an_expired_token_is_refused():
    signer = TokenSigner([NEW], clock=lambda: time.time() - 7200)
    token = outlet_token(signer, ttl=HOUR)
    assert reason(TokenSigner([NEW]), token) == "expired"


def test_a_forged_signature_is_refused():
    token = outlet_token(TokenSigner([SigningKey("k-new", "x" * 40)]))  # right kid, wrong secret
    assert reason(TokenSigner([NEW]), token) == "bad_signature"


def test_an_edited_payload_is_refused():
    token = outlet_token(TokenSigner([NEW]), "OUT-001")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["outlet"] = "OUT-002"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert reason(TokenSigner([NEW]), f"{header}.{forged}.{signature}") == "bad_signature"


def test_alg_none_is_refused():
    claims = {"iss": "tria", "aud": "tria-api", "sub": "outlet:OUT-001", "iat": int(time.time()),
              "exp": int(time.time()) + 60, "jti": "x", "role": "customer", "outlet": "OUT-001"}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k-new"})
    assert reason(TokenSigner([NEW]), unsigned) == "malformed"


def test_a_token_for_another_audience_or_issuer_is_refused():
    other_audience = TokenSigner([NEW], audience="someone-else")
    assert reason(TokenSigner([NEW]), outlet_token(other_audience)) == "wrong_audience"
    other_issuer = TokenSigner([NEW], issuer="not-tria")
    assert reason(TokenSigner([NEW]), outlet_token(other_issuer)) == "wrong_audience"
    # A set-password token is not an access token, nor the reverse.
    signer = TokenSigner([NEW])
    link = signer.issue("user:1", HOUR, role="customer", outlet_id="OUT-001", version=0,
                        audience=signer.set_password_audience)
    assert reason(signer, link) == "wrong_audience"
    assert signer.verify(link, audience=signer.set_password_audience).user_id == 1


@pytest.mark.parametrize("garbage", [
    "", "garbage", "a.b.c", "Bearer", "x" * 5000, "ééé.ééé.ééé", "eyJ" * 30, "\x00\x01",
    "eyJhbGciOiJIUzI1NiJ9.e30.", "..",
])
def test_garbage_is_malformed_never_an_exception(garbage):
    assert reason(TokenSigner([NEW]), garbage) in ("malformed", "unknown_key")


def test_signing_keys_parse_and_refuse_short_or_broken_lists():
    keys = parse_keys("a:" + "s" * 32 + ", b:" + "t" * 40)
    assert [k.kid for k in keys] == ["a", "b"]
    assert "s" * 32 not in repr(keys)
    for bad in ("", "nocolon", "a:short", ":" + "s" * 40):
        with pytest.raises(KeyConfigError):
            parse_keys(bad)


def test_without_keys_a_dev_key_is_made_once_private_and_reused(tmp_path):
    settings = Settings(VAR_DIR=str(tmp_path), AUTH_SIGNING_KEYS="")
    first = signing_keys(settings)
    path = tmp_path / "auth_signing_key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert signing_keys(settings) == first == [dev_key(tmp_path)]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    configured = Settings(VAR_DIR=str(tmp_path), AUTH_SIGNING_KEYS="k1:" + "z" * 40)
    assert [k.kid for k in signing_keys(configured)] == ["k1"]


# --- API keys -------------------------------------------------------------------------


def test_api_keys_are_random_and_stored_as_a_hash():
    key, other = api_keys.new_api_key(), api_keys.new_api_key()
    assert key != other and key.startswith("tria_") and len(key) > 40
    stored = api_keys.key_hash(key)
    assert key not in stored and len(stored) == 64
    assert api_keys.matches(key, stored) and not api_keys.matches(other, stored)
    assert not api_keys.looks_like_a_key("nope") and not api_keys.looks_like_a_key("tria_é")


# --- who acts for which outlet --------------------------------------------------------


def test_a_customer_acts_only_for_its_own_outlet():
    me = Identity("customer", "owner@out-001.example", "customer", "OUT-001")
    assert me.customer_for(None) == "OUT-001"
    assert me.customer_for("OUT-001") == "OUT-001"
    with pytest.raises(Forbidden):
        me.customer_for("OUT-002")


def test_an_api_key_acts_for_the_outlet_the_request_names_with_the_chat_scope():
    key = Identity("api_key", "whatsapp", scopes=frozenset({"chat"}))
    assert key.customer_for("OUT-002") == "OUT-002"
    with pytest.raises(CustomerRequired):
        key.customer_for(None)
    with pytest.raises(Forbidden):
        Identity("api_key", "reports", scopes=frozenset()).customer_for("OUT-002")


def test_staff_do_not_use_customer_routes():
    ops = Identity("staff", "ops@tria.example", "staff")
    assert ops.is_staff and not ops.is_admin
    assert Identity("staff", "admin@tria.example", "admin").is_admin
    with pytest.raises(Forbidden):
        ops.customer_for("OUT-001")


# --- the revocation lookup's cache (AUTH_REVOCATION_CACHE_SECONDS) -----------------------


class RevocationStore:
    """The store's revocation reads, counted; `revoked` is what another replica wrote."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.reads = 0

    def is_revoked(self, jti: str) -> bool:
        self.reads += 1
        return jti in self.revoked

    def revoke_token(self, jti, expires_at, now) -> None:
        self.revoked.add(jti)


class Quiet:
    def record(self, *args, **kwargs) -> None:
        pass


def cached_authenticator(seconds: float, now: list[float]):
    from datetime import datetime, timezone

    from tria_graph.auth import Authenticator

    store = RevocationStore()
    clock = lambda: datetime.fromtimestamp(now[0], timezone.utc)  # noqa: E731
    return Authenticator(TokenSigner([NEW]), store, Quiet(), clock=clock, revocation_cache_seconds=seconds), store


def test_without_the_cache_every_check_reads_the_revocation():
    auth, store = cached_authenticator(0, [time.time()])
    token = outlet_token(auth.signer)
    for _ in range(3):
        auth.authenticate_token(token)
    assert store.reads == 3


def test_the_revocation_cache_reads_once_per_ttl_and_a_local_logout_is_at_once():
    now = [time.time()]
    auth, store = cached_authenticator(5, now)
    token, other = outlet_token(auth.signer), outlet_token(auth.signer)
    for _ in range(3):
        auth.authenticate_token(token)
    assert store.reads == 1
    # Revoked elsewhere (another replica, the CLI): still accepted here until the TTL ends.
    store.revoked.add(TokenSigner([NEW]).verify(token).token_id)
    auth.authenticate_token(token)
    now[0] += 5.1
    with pytest.raises(Unauthorized):
        auth.authenticate_token(token)
    # A logout through this authenticator takes effect at once, cached or not.
    auth.authenticate_token(other)
    auth.logout(Identity("customer", "outlet:OUT-001", "customer", "OUT-001"), other)
    with pytest.raises(Unauthorized):
        auth.authenticate_token(other)
