"""Who is asking, once their credentials are checked, and what that lets them do.

An `Identity` is what the server's auth dependencies hand a route: an outlet's user
(or a token minted for an outlet), an integration's API key, or Tria's staff. The
rules of who may act for which outlet live here, not in the routes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["customer", "staff", "admin"]
ROLES: tuple[Role, ...] = ("customer", "staff", "admin")
IdentityKind = Literal["customer", "api_key", "staff"]
# What an API key may be used for; customer routes need "chat".
SCOPES = ("chat",)


class Unauthorized(Exception):
    """Missing, malformed, forged, expired or revoked credentials (HTTP 401).

    `reason` is a short label for logs and the failure counter; the client is told
    less (which check failed would help an attacker)."""

    def __init__(self, reason: str, message: str = "Authentication required: send a valid bearer token.") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Forbidden(Exception):
    """Authenticated, but not allowed to do this (HTTP 403)."""


class CustomerRequired(Exception):
    """An API key names no customer: it acts only for the customer the request names."""


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    name: str  # the user's email, the API key's name, or "outlet:<id>" for a token `tria token` minted
    role: Role = "customer"
    outlet_id: str | None = None  # the outlet a customer acts for; None for keys and staff
    user_id: int | None = None
    token_id: str | None = None  # the access token's jti (logout revokes it)
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and self.role == "admin"

    @property
    def actor_kind(self) -> str:
        """How the audit log names this kind of caller."""
        return {"customer": "user", "api_key": "api_key", "staff": "staff"}[self.kind]

    def customer_for(self, requested: str | None) -> str:
        """The outlet this caller acts for on a customer route, given the customer_id the
        request names (if any). A customer acts only for its own outlet; an API key for
        the outlet the request names; staff not at all (their routes say so)."""
        if self.kind == "customer":
            if requested is not None and requested != self.outlet_id:
                raise Forbidden("This account acts only for its own outlet.")
            return self.outlet_id
        if self.kind == "api_key":
            if "chat" not in self.scopes:
                raise Forbidden("This API key has no chat scope.")
            if requested is None:
                raise CustomerRequired()
            return requested
        raise Forbidden("Staff accounts cannot use customer routes.")
