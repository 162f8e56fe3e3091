"""What routes depend on: the loaded chat service, and who is asking.

`ServiceDep` hands a route the loaded ChatService, or raises BotNotLoaded while the
bot loads in the background (or after it failed to), which errors.py answers as 503.

`CallerDep` is any authenticated caller (an Identity); `CustomerDep` one allowed on
customer routes (an outlet's token, or an API key with the chat scope); `StaffDep` and
`AdminDep` Tria's staff. Credentials are, in this order: `Authorization: Bearer`,
`X-API-Key`, or the login cookie (then a POST also needs `X-CSRF-Token` equal to the
csrf cookie: double-submit, which another site's form cannot do). The checks are the
library's (tria_graph/auth); refusals become 401/403 in errors.py.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import Depends, Request

from tria_graph.auth import Authenticator, Forbidden, Identity
from tria_graph.auth.service import failed
from tria_graph.config import get_settings
from tria_graph.conversation import ChatService
from tria_graph.metrics import AUTH_FAILURES

from .exceptions import BotNotLoaded, CsrfFailed, StreamingDisabled

SESSION_COOKIE = "tria_session"
CSRF_COOKIE = "tria_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class BotHolder:
    """The loaded ChatService and authenticator, or why they are not loaded (yet)."""

    def __init__(self) -> None:
        self.service: ChatService | None = None
        self.auth: Authenticator | None = None
        self.error: str | None = None


async def bot_holder(request: Request) -> BotHolder:
    return request.app.state.bot


BotDep = Annotated[BotHolder, Depends(bot_holder)]


async def loaded_service(bot: BotDep) -> ChatService:
    if bot.service is None:
        raise BotNotLoaded(bot.error)
    return bot.service


ServiceDep = Annotated[ChatService, Depends(loaded_service)]


async def loaded_authenticator(bot: BotDep) -> Authenticator:
    # Credentials are checked against the database the bot opens: not before it is loaded.
    if bot.auth is None:
        raise BotNotLoaded(bot.error)
    return bot.auth


AuthenticatorDep = Annotated[Authenticator, Depends(loaded_authenticator)]


def bearer_token(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`; None without the header."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise failed("malformed")
    return token.strip()


def session_token(request: Request) -> str | None:
    """The login cookie's token, once a state-changing request proved it came from our page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        header = request.headers.get(CSRF_HEADER, "")
        if not cookie or not hmac.compare_digest(cookie.encode("utf-8", "replace"), header.encode("utf-8", "replace")):
            AUTH_FAILURES.labels("csrf").inc()
            raise CsrfFailed()
    return token


async def caller(request: Request, auth: AuthenticatorDep) -> Identity:
    """Whoever the request's credentials name; 401 without valid ones."""
    token = bearer_token(request)
    if token is not None:
        return await asyncio.to_thread(auth.authenticate_token, token)
    key = request.headers.get("x-api-key")
    if key is not None:
        return await asyncio.to_thread(auth.authenticate_api_key, key.strip())
    token = session_token(request)
    if token is not None:
        return await asyncio.to_thread(auth.authenticate_token, token)
    raise failed("missing")


CallerDep = Annotated[Identity, Depends(caller)]


async def customer_caller(identity: CallerDep) -> Identity:
    """A caller allowed on customer routes: not staff (their routes are /api/staff/)."""
    if identity.is_staff:
        raise Forbidden("Staff accounts cannot use customer routes.")
    return identity


CustomerDep = Annotated[Identity, Depends(customer_caller)]


async def staff_caller(identity: CallerDep) -> Identity:
    if not identity.is_staff:
        raise Forbidden("This route is for Tria staff.")
    return identity


StaffDep = Annotated[Identity, Depends(staff_caller)]


async def admin_caller(identity: StaffDep) -> Identity:
    if not identity.is_admin:
        raise Forbidden("This route is for administrators.")
    return identity


AdminDep = Annotated[Identity, Depends(admin_caller)]


async def streaming_enabled() -> None:
    if not get_settings().enable_streaming:
        raise StreamingDisabled()
