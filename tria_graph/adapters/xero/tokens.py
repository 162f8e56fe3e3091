"""The OAuth2 token set and tenant, stored in the database encrypted with Fernet.

Xero rotates the refresh token on every refresh and the old one stops working, so a
new token set is committed before anyone uses it. One refresh at a time: inside a
process a lock; across processes the token row is read `SELECT ... FOR UPDATE` on
Postgres, so a second process waits, then finds the fresh token and does not refresh
again. SQLite has no row locks (its writes are serialised by the file lock, not held
across the HTTP call): on SQLite run one process that talks to Xero (the server, or
`tria worker`), which is what the embedded setup is for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ..database import XeroTokenRow

NAME = "default"
# Refresh this many seconds before the access token expires (the SDK's own buffer is 60).
REFRESH_MARGIN = 120
TOKEN_KEYS = ("access_token", "refresh_token", "scope", "expires_in", "expires_at", "token_type", "id_token")


class NotConnected(RuntimeError):
    """No token stored and no XERO_REFRESH_TOKEN: run `tria xero connect`."""


def normalise(token: dict, received_at: float | None = None) -> dict:
    """A token response as the SDK's OAuth2Token.update_token takes it."""
    out = {k: token.get(k) for k in TOKEN_KEYS}
    if isinstance(out["scope"], str):
        out["scope"] = out["scope"].split()
    out["scope"] = out["scope"] or []
    out["token_type"] = out["token_type"] or "Bearer"
    if out["expires_at"] is None and out["expires_in"]:
        out["expires_at"] = (received_at or time.time()) + float(out["expires_in"])
    return out


class TokenStore:
    def __init__(
        self,
        sessions: sessionmaker,
        key: str,
        initial_refresh_token: str = "",
        tenant_id: str = "",
        refresher: Callable[[dict], dict] | None = None,
    ) -> None:
        self.sessions = sessions
        self.fernet = Fernet(key.encode() if isinstance(key, str) else key)
        self.initial_refresh_token = initial_refresh_token
        self.configured_tenant = tenant_id
        # Called with the current token, returns the new token response (set by XeroClient).
        self.refresher = refresher
        self._lock = threading.Lock()
        self.refreshes = 0

    # --- storage ------------------------------------------------------------
    def _encrypt(self, token: dict) -> str:
        return self.fernet.encrypt(json.dumps(token).encode()).decode()

    def _decrypt(self, row: XeroTokenRow) -> dict:
        try:
            return json.loads(self.fernet.decrypt(row.token.encode()))
        except InvalidToken as exc:
            raise NotConnected("The stored Xero token cannot be decrypted with XERO_TOKEN_KEY.") from exc

    def save(self, token: dict, tenant_id: str | None = None) -> None:
        """Store a token set (and the tenant) at once, replacing the previous one."""
        token = normalise(token)
        with self.sessions() as s:
            row = s.get(XeroTokenRow, NAME, with_for_update=True)
            if row is None:
                row = XeroTokenRow(name=NAME, tenant_id=tenant_id or "")
                s.add(row)
            if tenant_id is not None:
                row.tenant_id = tenant_id
            row.token = self._encrypt(token)
            row.expires_at = float(token["expires_at"] or 0)
            row.updated_at = datetime.now(timezone.utc)
            s.commit()

    def load(self) -> dict | None:
        with self.sessions() as s:
            row = s.get(XeroTokenRow, NAME)
            return self._decrypt(row) if row is not None else None

    def tenant_id(self) -> str:
        if self.configured_tenant:
            return self.configured_tenant
        with self.sessions() as s:
            row = s.get(XeroTokenRow, NAME)
        if row is None or not row.tenant_id:
            raise NotConnected("No Xero tenant: set XERO_TENANT_ID or run `tria xero connect`.")
        return row.tenant_id

    def _ensure_row(self) -> None:
        """First use with only XERO_REFRESH_TOKEN: store it as an expired token set."""
        with self.sessions() as s:
            if s.get(XeroTokenRow, NAME) is not None:
                return
        if not self.initial_refresh_token:
            raise NotConnected("Xero is not connected: run `tria xero connect` (or set XERO_REFRESH_TOKEN).")
        seed = {"refresh_token": self.initial_refresh_token, "expires_at": 0, "expires_in": 0, "scope": []}
        try:
            with self.sessions() as s:
                s.add(XeroTokenRow(
                    name=NAME, tenant_id="", token=self._encrypt(normalise(seed)),
                    expires_at=0, updated_at=datetime.now(timezone.utc),
                ))
                s.commit()
        except IntegrityError:
            pass  # another process stored it first

    # --- a valid token -----------------------------------------------------
    @staticmethod
    def fresh(token: dict) -> bool:
        return bool(token.get("access_token")) and float(token.get("expires_at") or 0) > time.time() + REFRESH_MARGIN

    def current(self) -> dict:
        """A token valid for at least REFRESH_MARGIN seconds (the SDK's token getter)."""
        token = self.load()
        if token is not None and self.fresh(token):
            return token
        return self.refresh()

    def refresh(self, stale_access_token: str | None = None) -> dict:
        """Refresh under the lock, unless another thread or process already has.

        stale_access_token: Xero refused this one (401); refresh even if it looks fresh."""
        self._ensure_row()
        with self._lock, self.sessions() as s:
            row = s.get(XeroTokenRow, NAME, with_for_update=True)  # waits for another refresher
            token = self._decrypt(row)
            if self.fresh(token) and token.get("access_token") != stale_access_token:
                return token
            if self.refresher is None:
                raise NotConnected("No refresher: the token store is not attached to a Xero client.")
            received_at = time.time()
            new = normalise(self.refresher(token), received_at)
            if not new.get("refresh_token"):
                new["refresh_token"] = token.get("refresh_token")
            # Persist the rotated refresh token before anyone can use it.
            row.token = self._encrypt(new)
            row.expires_at = float(new["expires_at"] or 0)
            row.updated_at = datetime.now(timezone.utc)
            s.commit()
            self.refreshes += 1
            return new
