"""Rate limits as FastAPI dependencies (the rules and their storage: tria_graph.adapters.rate_limits).

The /api routers depend on `limit_address` then `limit_outlet`; a refusal raises
RateLimited, which errors.py answers 429 `rate_limited` with `Retry-After`.

Where the outlet comes from is `request_outlet`, and only there: the outlet of the
caller's token, or, for an API key acting for the outlets it names, the body's (or the
query's) `customer_id`. Login (the auth routes) calls `RateLimits.check_login(email)`
through `LimitsDep`:

    async def login(form: LoginForm, limits: LimitsDep, _: Annotated[None, Depends(limit_address)]):
        await limits.check_login(form.email)    # before the password is checked
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

from tria_graph.adapters.rate_limits import RateLimits
from tria_graph.config import get_settings

from .deps import CallerDep
from .schemas import CUSTOMER_ID_PATTERN

_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)


def rate_limits(request: Request) -> RateLimits:
    """The app's RateLimits: opened by the lifespan, or on first use by an app served
    without it (tests that set the bot by hand)."""
    limits = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        limits = request.app.state.rate_limits = RateLimits.from_settings(get_settings())
    return limits


LimitsDep = Annotated[RateLimits, Depends(rate_limits)]


def client_address(request: Request) -> str:
    """The client's address: the ASGI peer, or the client X-Forwarded-For names when the
    peer is a trusted proxy (uvicorn rewrites the peer: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


async def request_outlet(request: Request, caller: CallerDep) -> str | None:
    """The outlet a request acts for: THE one place it is read from.

    A customer's token names it. An API key acts for the customer_id of the JSON body
    (/api/chatbot, /stream) or of the query (/api/sessions/{id}/messages), if it is a
    well-formed id (a malformed one is refused 422 by the route itself).
    """
    if caller.outlet_id is not None:
        return caller.outlet_id
    value = request.query_params.get("customer_id")
    if value is None and request.method == "POST":
        try:
            body = await request.json()  # Starlette keeps the bytes: the route reads them again
        except ValueError:
            body = None
        value = body.get("customer_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) and len(value) <= 16 and _CUSTOMER_ID.fullmatch(value) else None


OutletDep = Annotated[str | None, Depends(request_outlet)]


async def limit_address(request: Request, limits: LimitsDep) -> None:
    await limits.check_address(client_address(request))


async def limit_outlet(outlet: OutletDep, limits: LimitsDep) -> None:
    if outlet is not None:
        await limits.check_customer(outlet)


# The /api routers' dependencies: the address first (it also covers malformed requests).
API_LIMITS = [Depends(limit_address), Depends(limit_outlet)]
