"""The auth tables (users, api_keys, revoked_tokens) through SQLAlchemy.

Plain reads and writes; the rules (who may log in, what a token is worth) are in
service.py. Records are frozen dataclasses, never rows, so no session leaks out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..adapters.database import ApiKeyRow, OutletRow, RevokedTokenRow, UserRow
from .identity import Role


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: Role
    outlet_id: str | None
    token_version: int
    disabled: bool
    password_hash: str | None

    def __repr__(self) -> str:  # never print the hash
        return f"User(id={self.id}, email={self.email!r}, role={self.role!r}, outlet_id={self.outlet_id!r})"


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None


class UserExists(Exception):
    """A user with this email exists already."""


class UnknownOutlet(Exception):
    """No outlet has this customer id."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _user(row: UserRow) -> User:
    return User(row.id, row.email, row.role, row.outlet_id, row.token_version, row.disabled, row.password_hash)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.id, row.name, frozenset(row.scopes.split()), row.created_at, row.revoked_at)


class AuthStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    # --- users ------------------------------------------------------------------------

    def add_user(self, email: str, role: Role, outlet_id: str | None, password_hash: str | None, now: datetime) -> User:
        with self.sessions() as s:
            if outlet_id is not None and s.get(OutletRow, outlet_id) is None:
                raise UnknownOutlet(outlet_id)
            row = UserRow(
                email=normalise_email(email), role=role, outlet_id=outlet_id, password_hash=password_hash,
                token_version=0, disabled=False, created_at=now,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                raise UserExists(email) from None
            return _user(row)

    def user(self, user_id: int) -> User | None:
        with self.sessions() as s:
            row = s.get(UserRow, user_id)
            return _user(row) if row else None

    def user_by_email(self, email: str) -> User | None:
        with self.sessions() as s:
            row = s.scalar(select(UserRow).where(UserRow.email == normalise_email(email)))
            return _user(row) if row else None

    def count_users(self) -> int:
        with self.sessions() as s:
            return s.scalar(select(func.count()).select_from(UserRow)) or 0

    def set_password(self, user_id: int, password_hash: str) -> None:
        """A new password also revokes every token issued before it."""
        with self.sessions() as s:
            s.execute(
                update(UserRow).where(UserRow.id == user_id)
                .values(password_hash=password_hash, token_version=UserRow.token_version + 1)
            )
            s.commit()

    def rehash_password(self, user_id: int, password_hash: str) -> None:
        """The same password under stronger parameters: tokens stay valid."""
        with self.sessions() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash))
            s.commit()

    def revoke_user_tokens(self, user_id: int) -> None:
        with self.sessions() as s:
            s.execute(update(UserRow).where(UserRow.id == user_id).values(token_version=UserRow.token_version + 1))
            s.commit()

    def outlet_exists(self, customer_id: str) -> bool:
        with self.sessions() as s:
            return s.get(OutletRow, customer_id) is not None

    # --- API keys ---------------------------------------------------------------------

    def add_api_key(self, name: str, key_hash: str, scopes: frozenset[str], now: datetime) -> ApiKey:
        with self.sessions() as s:
            row = ApiKeyRow(name=name, key_hash=key_hash, scopes=" ".join(sorted(scopes)), created_at=now)
            s.add(row)
            s.commit()
            return _key(row)

    def active_api_key(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The unrevoked key with this hash, and the stored hash (compared again in
        constant time by the caller)."""
        with self.sessions() as s:
            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None)))
            return (_key(row), row.key_hash) if row else None

    def api_keys(self, name: str | None = None) -> list[ApiKey]:
        with self.sessions() as s:
            query = select(ApiKeyRow).order_by(ApiKeyRow.id)
            if name is not None:
                query = query.where(ApiKeyRow.name == name)
            return [_key(r) for r in s.scalars(query)]

    def revoke_api_keys(self, name: str, now: datetime, key_id: int | None = None) -> list[int]:
        """Revoke the name's active keys (or just key_id); the ids revoked."""
        with self.sessions() as s:
            query = select(ApiKeyRow).where(ApiKeyRow.name == name, ApiKeyRow.revoked_at.is_(None))
            if key_id is not None:
                query = query.where(ApiKeyRow.id == key_id)
            rows = list(s.scalars(query))
            for row in rows:
                row.revoked_at = now
            s.commit()
            return [row.id for row in rows]

    # --- single tokens ----------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: datetime, now: datetime) -> None:
        with self.sessions() as s:
            # Entries of tokens past their expiry protect nothing: dropped as we go.
            s.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < now))
            if s.get(RevokedTokenRow, jti) is None:
                s.add(RevokedTokenRow(jti=jti, expires_at=expires_at))
            s.commit()

    def is_revoked(self, jti: str) -> bool:
        with self.sessions() as s:
            return s.get(RevokedTokenRow, jti) is not None
