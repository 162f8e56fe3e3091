"""Every error the API answers, in one place, in one shape: `{"error", "message", "detail"?}`.

Routes do not catch exceptions: the library's (and the few the server raises itself)
reach the handlers registered here, which look up the status, code, message and
headers in `ERRORS`. Anything else is a 500 `internal_error` that names no internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tria_graph.adapters.rate_limits import RateLimited
from tria_graph.adapters.session_locks import SessionBusy
from tria_graph.auth import CustomerRequired, Forbidden, Unauthorized, WeakPassword
from tria_graph.conversation import SessionForbidden, SessionNotFound, UnknownCustomer

from .exceptions import BotNotLoaded, CsrfFailed, MetricsForbidden, MetricsUnauthorized, NotReady, StreamingDisabled
from .schemas import ErrorBody

log = logging.getLogger("tria.server")


@dataclass(frozen=True)
class ApiError:
    status: int
    code: str
    message: Callable[[Exception], str]
    # Fixed headers, or a function of the exception (a Retry-After it carries).
    headers: dict[str, str] | Callable[[Exception], dict[str, str]] | None = None
    outage: bool = False  # logged: an outage needs attention; the other refusals are ordinary answers


RETRY_SOON = {"Retry-After": "5"}
# The database (SQLAlchemy or the checkpointer's psycopg pool) is down or restarting:
# the turn did not happen; the client may send it again once the pools reconnect.
DATABASE_UNAVAILABLE = ApiError(
    503, "database_unavailable", lambda e: "The database is not answering; please retry shortly.", RETRY_SOON, outage=True
)

_LIMITED_BY = {"customer": "this outlet", "address": "your address", "login": "this login"}
ERRORS: dict[type[Exception], ApiError] = {
    # Which check failed (expired, forged, revoked...) is logged and counted, not told.
    Unauthorized: ApiError(401, "unauthorized", lambda e: e.message, {"WWW-Authenticate": "Bearer"}),
    Forbidden: ApiError(403, "forbidden", lambda e: str(e) or "Not allowed."),
    CsrfFailed: ApiError(403, "csrf_failed", lambda e: "Send the csrf cookie's value in the X-CSRF-Token header."),
    CustomerRequired: ApiError(422, "invalid_request", lambda e: "customer_id: required with an API key (it names the outlet served)."),
    WeakPassword: ApiError(422, "invalid_request", lambda e: f"password: {e}"),
    UnknownCustomer: ApiError(404, "unknown_customer", lambda e: f"No outlet has customer_id {e.args[0]!r}."),
    SessionForbidden: ApiError(403, "forbidden", lambda e: "This session belongs to another customer."),
    SessionNotFound: ApiError(404, "unknown_session", lambda e: f"No conversation has session_id {e.args[0]!r}."),
    SessionBusy: ApiError(
        503, "session_busy",
        lambda e: "Another message of this session is still being answered; please retry.",
        {"Retry-After": "2"},
    ),
    OperationalError: DATABASE_UNAVAILABLE,
    psycopg.OperationalError: DATABASE_UNAVAILABLE,
    psycopg_pool.PoolTimeout: DATABASE_UNAVAILABLE,
    BotNotLoaded: ApiError(503, "starting", lambda e: e.reason or "The bot is still loading; please retry shortly.", RETRY_SOON),
    NotReady: ApiError(503, "not_ready", lambda e: e.reason or "Loading the graph, database and knowledge base.", RETRY_SOON),
    StreamingDisabled: ApiError(
        404, "streaming_disabled", lambda e: "Streaming is off (ENABLE_STREAMING=false); use POST /api/chatbot."
    ),
    # Access: rate limits (server/limits.py) and /metrics (server/metrics_access.py).
    RateLimited: ApiError(
        429, "rate_limited",
        lambda e: f"Too many requests from {_LIMITED_BY.get(e.limit, e.limit)}; retry in {e.retry_after} s.",
        lambda e: {"Retry-After": str(e.retry_after)},
    ),
    MetricsUnauthorized: ApiError(
        401, "unauthorized", lambda e: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.",
        {"WWW-Authenticate": "Bearer"},
    ),
    MetricsForbidden: ApiError(
        403, "forbidden", lambda e: "GET /metrics is served to loopback clients only unless METRICS_TOKEN is set.",
    ),
}


def documented(*statuses: int) -> dict:
    """The `responses=` of a route: its error statuses answer an ErrorBody (for OpenAPI)."""
    return {status: {"model": ErrorBody} for status in statuses}


def error_response(status: int, code: str, message: str, headers: dict | None = None, detail=None) -> JSONResponse:
    body = ErrorBody(error=code, message=message, detail=detail).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=body, headers=headers)


def _handler(spec: ApiError):
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        if spec.outage:
            log.warning("%s: %s", spec.code, exc)
        headers = spec.headers(exc) if callable(spec.headers) else spec.headers
        return error_response(spec.status, spec.code, spec.message(exc), headers)

    return handle


async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [
        {
            # A JSON syntax error is located by byte offset, which is no field name.
            "field": "body" if e["type"] == "json_invalid"
            else ".".join(str(p) for p in e["loc"] if p != "body") or "body",
            "message": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in detail)
    return error_response(422, "invalid_request", summary, detail=detail)


async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own errors (405, 404 route, unreadable body) in the API's error shape.

    An unreadable body (not UTF-8, say) is FastAPI's 400; it is answered as every other
    body that is not the JSON a route takes: 422 `invalid_request` (the one status the
    schema documents for it; found by tests/integration/test_fuzz_http.py)."""
    if exc.status_code == 400:
        detail = [{"field": "body", "message": f"{exc.detail}: send UTF-8 JSON"}]
        return error_response(422, "invalid_request", f"body: {detail[0]['message']}", detail=detail)
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # One line: Starlette re-raises after this handler, so the server logs the traceback.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(500, "internal_error", "Something went wrong on our side; please retry later.")


def register(app: FastAPI) -> None:
    for exc_class, spec in ERRORS.items():
        app.add_exception_handler(exc_class, _handler(spec))
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
