"""Authentication: credentials in, an Identity (or Unauthorized) out.

`Authenticator` puts the pieces together: the token signer, the store, password
hashing and the audit log. The server calls it with what a request carried; the CLI
with what an operator typed. Every refusal is logged (never with the credential) and
counted in `tria_auth_failures_total{reason}`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cachetools import TTLCache
from sqlalchemy.orm import sessionmaker

from ..config import Settings
from ..metrics import AUTH_FAILURES
from . import api_keys, passwords
from .audit import CLI, AuditLog, actor_of
from .identity import SCOPES, Identity, Role, Unauthorized
from .store import ApiKey, AuthStore, User
from .tokens import SET_PASSWORD_TTL, Claims, TokenSigner

log = logging.getLogger("tria.auth")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int  # seconds
    identity: Identity


def _now() -> datetime:
    return datetime.now(timezone.utc)


def failed(reason: str, message: str | None = None) -> Unauthorized:
    """An Unauthorized, logged and counted (the one place failures are)."""
    AUTH_FAILURES.labels(reason).inc()
    log.info("authentication failed: %s", reason)
    return Unauthorized(reason, message) if message else Unauthorized(reason)


class Authenticator:
    def __init__(
        self,
        signer: TokenSigner,
        store: AuthStore,
        audit: AuditLog,
        access_ttl: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = _now,
        revocation_cache_seconds: float = 0,
    ) -> None:
        self.signer = signer
        self.store = store
        self.audit = audit
        self.access_ttl = access_ttl
        self.clock = clock
        # jti -> revoked, remembered revocation_cache_seconds (AUTH_REVOCATION_CACHE_SECONDS;
        # 0: off). Bounded; checks run on worker threads, hence the lock.
        self._revoked: TTLCache | None = (
            TTLCache(10_000, revocation_cache_seconds, timer=lambda: self.clock().timestamp())
            if revocation_cache_seconds > 0 else None
        )
        self._revoked_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker) -> Authenticator:
        return cls(
            TokenSigner.from_settings(settings), AuthStore(sessions), AuditLog(sessions),
            timedelta(seconds=settings.access_token_ttl),
            revocation_cache_seconds=settings.auth_revocation_cache_seconds,
        )

    # --- logging in and issuing tokens --------------------------------------------------

    def login(self, email: str, password: str) -> IssuedToken:
        """A token for the user with this email and password."""
        user = self.store.user_by_email(email) if len(email) <= 254 else None
        # Verified even for an unknown email (against a dummy hash): the same time either way.
        ok = passwords.verify_password(user.password_hash if user else None, password)
        if not ok or user is None or user.disabled:
            self.audit.record(("user", email[:254]), "login.failed")
            raise failed("bad_credentials", "Wrong email or password.")
        if passwords.needs_rehash(user.password_hash):
            self.store.rehash_password(user.id, passwords.hash_password(password))
        issued = self.issue_for_user(user, self.access_ttl)
        self.audit.record(actor_of(issued.identity), "login", outlet_id=user.outlet_id)
        return issued

    def issue_for_user(self, user: User, ttl: timedelta) -> IssuedToken:
        token = self.signer.issue(
            f"user:{user.id}", ttl, role=user.role, outlet_id=user.outlet_id, version=user.token_version
        )
        return IssuedToken(token, int(ttl.total_seconds()), _user_identity(user, None))

    def issue_for_outlet(self, customer_id: str, ttl: timedelta, actor: tuple[str, str] = CLI) -> IssuedToken:
        """A customer token for an outlet, without a user (`tria token --customer`)."""
        if not self.store.outlet_exists(customer_id):
            raise LookupError(f"no outlet has customer id {customer_id}")
        token = self.signer.issue(f"outlet:{customer_id}", ttl, role="customer", outlet_id=customer_id)
        self.audit.record(actor, "token.issued", target=f"outlet:{customer_id}", outlet_id=customer_id,
                          details={"ttl_seconds": int(ttl.total_seconds())})
        return IssuedToken(token, int(ttl.total_seconds()), Identity("customer", f"outlet:{customer_id}", "customer", customer_id))

    def issue_for_staff(self, email: str, ttl: timedelta, actor: tuple[str, str] = CLI) -> IssuedToken:
        user = self.store.user_by_email(email)
        if user is None or user.role == "customer":
            raise LookupError(f"no staff user has email {email}")
        issued = self.issue_for_user(user, ttl)
        self.audit.record(actor, "token.issued", target=user.email, details={"ttl_seconds": int(ttl.total_seconds())})
        return issued

    # --- checking credentials -------------------------------------------------------------

    def authenticate_token(self, token: str) -> Identity:
        """The identity a bearer token (or the session cookie) stands for."""
        try:
            claims = self.signer.verify(token)
        except Unauthorized as exc:
            raise failed(exc.reason, exc.message) from None
        if self.is_revoked(claims.token_id):
            raise failed("revoked")
        if claims.user_id is None:  # a token minted for an outlet
            if not claims.subject.startswith("outlet:") or claims.role != "customer":
                raise failed("malformed")
            # Named by its subject ("outlet:OUT-001"): the audit log tells it from a user.
            return Identity("customer", claims.subject, "customer", claims.outlet_id, token_id=claims.token_id)
        user = self.store.user(claims.user_id)
        if user is None or user.disabled or claims.version != user.token_version:
            raise failed("revoked")
        return _user_identity(user, claims.token_id)

    def is_revoked(self, token_id: str) -> bool:
        """The store's answer, or the cached one (AUTH_REVOCATION_CACHE_SECONDS)."""
        if self._revoked is None:
            return self.store.is_revoked(token_id)
        with self._revoked_lock:
            known = self._revoked.get(token_id)
        if known is not None:
            return known
        revoked = self.store.is_revoked(token_id)
        with self._revoked_lock:
            self._revoked[token_id] = revoked
        return revoked

    def authenticate_api_key(self, key: str) -> Identity:
        if not api_keys.looks_like_a_key(key):
            raise failed("malformed", "Unknown API key.")
        found = self.store.active_api_key(api_keys.key_hash(key))
        if found is None or not api_keys.matches(key, found[1]):
            raise failed("unknown_api_key", "Unknown API key.")
        record = found[0]
        return Identity("api_key", record.name, "customer", None, scopes=record.scopes)

    def claims(self, token: str) -> Claims:
        return self.signer.verify(token)

    def logout(self, identity: Identity, token: str) -> None:
        """Revoke this one token (the others of the user stay valid)."""
        claims = self.signer.verify(token)
        expires = datetime.fromtimestamp(claims.expires_at, timezone.utc)
        self.store.revoke_token(claims.token_id, expires, self.clock())
        if self._revoked is not None:  # at once in this process, whatever the cache held
            with self._revoked_lock:
                self._revoked[claims.token_id] = True
        self.audit.record(actor_of(identity), "logout", outlet_id=identity.outlet_id)

    # --- users and passwords --------------------------------------------------------------

    def add_user(self, email: str, role: Role, outlet_id: str | None, password: str | None,
                 actor: tuple[str, str] = CLI) -> User:
        if password is not None:
            passwords.check_new_password(password)
        hashed = passwords.hash_password(password) if password is not None else None
        user = self.store.add_user(email, role, outlet_id, hashed, self.clock())
        self.audit.record(actor, "user.created", target=user.email, outlet_id=outlet_id, details={"role": role})
        return user

    def set_password_token(self, user: User) -> str:
        """A one-time token to set the user's password (valid 24 h)."""
        return self.signer.issue(
            f"user:{user.id}", SET_PASSWORD_TTL, role=user.role, outlet_id=user.outlet_id,
            version=user.token_version, audience=self.signer.set_password_audience,
        )

    def set_password(self, token: str, password: str) -> User:
        """Set the password a set-password token is for; the token (and every token the
        user had) stops working."""
        try:
            claims = self.signer.verify(token, audience=self.signer.set_password_audience)
        except Unauthorized as exc:
            raise failed(exc.reason, "This set-password link is invalid or has expired.") from None
        user = self.store.user(claims.user_id) if claims.user_id is not None else None
        if user is None or claims.version != user.token_version:
            raise failed("revoked", "This set-password link has been used or replaced.")
        passwords.check_new_password(password)
        self.store.set_password(user.id, passwords.hash_password(password))
        self.audit.record(("user", user.email), "password.set", target=user.email, outlet_id=user.outlet_id)
        return user

    def revoke_user(self, email: str, actor: tuple[str, str] = CLI) -> User:
        user = self.store.user_by_email(email)
        if user is None:
            raise LookupError(f"no user has email {email}")
        self.store.revoke_user_tokens(user.id)
        self.audit.record(actor, "tokens.revoked", target=user.email, outlet_id=user.outlet_id)
        return user

    # --- API keys --------------------------------------------------------------------------

    def create_api_key(self, name: str, scopes: frozenset[str] = frozenset({"chat"}),
                       actor: tuple[str, str] = CLI) -> tuple[str, ApiKey]:
        """A new key for the integration `name` (printed once; only its hash is kept).
        The name's other keys stay valid, so an integration can switch without downtime."""
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(sorted(unknown))} (known: {', '.join(SCOPES)})")
        key = api_keys.new_api_key()
        record = self.store.add_api_key(name, api_keys.key_hash(key), frozenset(scopes), self.clock())
        self.audit.record(actor, "api_key.created", target=name, details={"key_id": record.id, "scopes": sorted(scopes)})
        return key, record

    def revoke_api_keys(self, name: str, key_id: int | None = None, actor: tuple[str, str] = CLI) -> list[int]:
        revoked = self.store.revoke_api_keys(name, self.clock(), key_id)
        if revoked:
            self.audit.record(actor, "api_key.revoked", target=name, details={"key_ids": revoked})
        return revoked


def _user_identity(user: User, token_id: str | None) -> Identity:
    if user.role == "customer":
        return Identity("customer", user.email, "customer", user.outlet_id, user.id, token_id)
    return Identity("staff", user.email, user.role, None, user.id, token_id)
