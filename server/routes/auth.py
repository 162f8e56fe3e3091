"""Logging in and out, setting a password, and who am I: /api/auth/*.

Login answers a bearer token (for scripts and apps) and sets it as an HttpOnly,
SameSite=Strict cookie (for the web page), with a csrf cookie the page echoes in
X-CSRF-Token on each POST.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Depends, Request, Response

from tria_graph.auth import Forbidden
from tria_graph.config import get_settings

from ..deps import CSRF_COOKIE, SESSION_COOKIE, AuthenticatorDep, CallerDep, bearer_token
from ..errors import documented
from ..limits import LimitsDep, limit_address
from ..schemas import LoginRequest, LoginResponse, Me, SetPasswordRequest

router = APIRouter(prefix="/api/auth", responses=documented(401, 422, 429, 503))


@router.post("/login", response_model=LoginResponse, dependencies=[Depends(limit_address)])
async def login(body: LoginRequest, response: Response, auth: AuthenticatorDep, limits: LimitsDep) -> LoginResponse:
    """A short-lived access token for an email and password (401 `unauthorized` otherwise;
    429 `rate_limited` past RATE_LIMIT_LOGIN attempts for one email, whatever the password)."""
    await limits.check_login(body.email)  # before the password is checked: brute force
    issued = await asyncio.to_thread(auth.login, body.email, body.password)
    csrf = secrets.token_urlsafe(32)
    secure = get_settings().auth_cookie_secure
    response.set_cookie(
        SESSION_COOKIE, issued.token, max_age=issued.expires_in, path="/api",
        httponly=True, secure=secure, samesite="strict",
    )
    # Readable by the page's script (not HttpOnly): that is the point of double-submit.
    response.set_cookie(CSRF_COOKIE, csrf, max_age=issued.expires_in, path="/", secure=secure, samesite="strict")
    identity = issued.identity
    return LoginResponse(
        access_token=issued.token, expires_in=issued.expires_in, csrf_token=csrf,
        role=identity.role, outlet_id=identity.outlet_id,
    )


@router.post("/logout", status_code=204, responses=documented(403))
async def logout(request: Request, caller: CallerDep, auth: AuthenticatorDep) -> Response:
    """Revoke the token this request carried (bearer or cookie) and clear the cookies."""
    if caller.token_id is None:
        raise Forbidden("API keys are revoked with `tria apikey revoke`.")
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    await asyncio.to_thread(auth.logout, caller, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/api")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.post("/set-password", status_code=204)
async def set_password(body: SetPasswordRequest, auth: AuthenticatorDep) -> Response:
    """Set a password with the one-time token `tria user add` printed; every earlier
    token of the user stops working."""
    await asyncio.to_thread(auth.set_password, body.token, body.password)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
async def me(caller: CallerDep) -> Me:
    """Who the request's credentials name."""
    return Me(kind=caller.kind, name=caller.name, role=caller.role, outlet_id=caller.outlet_id)
