"""Signed access tokens: JWT (PyJWT), HS256, with a `kid` header so keys can rotate.

Keys come from AUTH_SIGNING_KEYS ("kid:secret,kid:secret"): the first signs, every
one verifies, so a new key is rolled in first and the old one dropped once the
tokens it signed have expired. Without it (dev, embedded), one key is generated into
VAR_DIR/auth_signing_key (mode 0600) and reused by every process on that VAR_DIR.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jwt

from ..config import Settings
from .identity import Role, Unauthorized

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518: an HS256 key at least as long as the hash
MAX_TOKEN_LENGTH = 4096  # anything longer is not ours; refused before parsing
DEV_KEY_FILE = "auth_signing_key"
# Set-password links are tokens for another audience: never accepted as access tokens.
SET_PASSWORD_AUDIENCE_SUFFIX = ":set-password"
SET_PASSWORD_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"SigningKey(kid={self.kid!r})"


@dataclass(frozen=True)
class Claims:
    """A verified token's content."""

    subject: str  # "user:<id>" or "outlet:<customer id>" (a token minted by the CLI)
    token_id: str
    issued_at: int
    expires_at: int
    role: Role
    outlet_id: str | None = None
    version: int | None = None  # the user's token_version when issued

    @property
    def user_id(self) -> int | None:
        kind, _, value = self.subject.partition(":")
        return int(value) if kind == "user" and value.isdigit() else None


class KeyConfigError(ValueError):
    """AUTH_SIGNING_KEYS cannot be read."""


def parse_keys(text: str) -> list[SigningKey]:
    keys = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kid, sep, secret = item.partition(":")
        if not sep or not kid.strip() or not secret:
            raise KeyConfigError("AUTH_SIGNING_KEYS is a comma-separated list of kid:secret")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise KeyConfigError(f"AUTH_SIGNING_KEYS: key {kid.strip()!r} needs at least {MIN_SECRET_BYTES} bytes")
        keys.append(SigningKey(kid.strip(), secret))
    if not keys:
        raise KeyConfigError("AUTH_SIGNING_KEYS names no key")
    return keys


def dev_key(var_dir: Path) -> SigningKey:
    """The VAR_DIR's own key, made on first use. Written to a private temporary file and
    linked into place, so processes starting together all end up with the same key."""
    path = Path(var_dir) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{DEV_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"dev-{secrets.token_hex(4)}:{secrets.token_urlsafe(48)}\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its key
        finally:
            temporary.unlink()
    return parse_keys(path.read_text().strip())[0]


def signing_keys(settings: Settings) -> list[SigningKey]:
    if settings.auth_signing_keys.strip():
        return parse_keys(settings.auth_signing_keys)
    return [dev_key(settings.var_dir)]


class TokenSigner:
    """Issues and verifies access tokens (and set-password tokens)."""

    def __init__(self, keys: list[SigningKey], issuer: str = "tria", audience: str = "tria-api", clock=time.time) -> None:
        self.keys = keys
        self.by_kid = {key.kid: key for key in keys}
        self.issuer = issuer
        self.audience = audience
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenSigner:
        return cls(signing_keys(settings), settings.auth_issuer, settings.auth_audience)

    @property
    def set_password_audience(self) -> str:
        return self.audience + SET_PASSWORD_AUDIENCE_SUFFIX

    def issue(
        self,
        subject: str,
        ttl: timedelta,
        *,
        role: Role = "customer",
        outlet_id: str | None = None,
        version: int | None = None,
        audience: str | None = None,
    ) -> str:
        now = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": audience or self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(ttl.total_seconds()),
            "jti": uuid.uuid4().hex,
            "role": role,
        }
        if outlet_id is not None:
            claims["outlet"] = outlet_id
        if version is not None:
            claims["ver"] = version
        key = self.keys[0]
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verify(self, token: str, audience: str | None = None) -> Claims:
        """The token's claims, or Unauthorized with the reason it was refused."""
        if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise Unauthorized("malformed")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthorized("malformed") from None
        key = self.by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthorized("unknown_key")
        try:
            payload = jwt.decode(
                token,
                key.secret,
                algorithms=[ALGORITHM],  # never "none", never what the header asks for
                audience=audience or self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
                leeway=5,  # seconds of clock skew between replicas
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("expired", "The token has expired: log in again.") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("bad_signature") from None
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise Unauthorized("wrong_audience") from None
        except jwt.PyJWTError:
            raise Unauthorized("malformed") from None
        role, outlet, version = payload.get("role"), payload.get("outlet"), payload.get("ver")
        if role not in ("customer", "staff", "admin") or not isinstance(payload["sub"], str):
            raise Unauthorized("malformed")
        if role == "customer" and not isinstance(outlet, str):
            raise Unauthorized("malformed")
        return Claims(
            subject=payload["sub"],
            token_id=str(payload["jti"]),
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            role=role,
            outlet_id=outlet,
            version=version if isinstance(version, int) else None,
        )
