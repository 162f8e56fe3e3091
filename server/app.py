"""The HTTP server: routes, schemas and lifespan only; the library does the work.

The lifespan starts loading the bot in the background so /health and /readiness
answer while the model and knowledge base load; /api/chatbot answers 503 until then.
A database outage answers 503 with Retry-After; the pools reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone
from importlib.metadata import version

from typing import Annotated

import psycopg
import psycopg_pool
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tria_graph.adapters.cache import RedisCache
from tria_graph.adapters.session_locks import SessionBusy
from tria_graph.bootstrap import open_chat_service
from tria_graph.config import get_settings
from tria_graph.conversation import ChatService, SessionForbidden, SessionNotFound, UnknownCustomer
from tria_graph.metrics import HTTP_LATENCY, HTTP_REQUESTS

from .schemas import (
    CUSTOMER_ID_PATTERN,
    SESSION_ID_PATTERN,
    ChatRequest,
    ChatResponse,
    ErrorBody,
    Health,
    Transcript,
)

log = logging.getLogger("tria.server")
VERSION = version("tria-graph")


class BotHolder:
    """The loaded ChatService, or why it is not loaded (yet)."""

    def __init__(self) -> None:
        self.service: ChatService | None = None
        self.error: str | None = None


@asynccontextmanager
async def lifespan(app: FastAPI):
    holder = BotHolder()
    app.state.bot = holder
    async with AsyncExitStack() as stack:

        async def load() -> None:
            try:
                holder.service = await stack.enter_async_context(open_chat_service(get_settings()))
                log.info("bot ready")
            except Exception as exc:  # reported by /readiness and /health
                holder.error = str(exc)
                log.exception("bot failed to load")

        task = asyncio.create_task(load())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


app = FastAPI(title="Tria customer service", version=VERSION, lifespan=lifespan)


def error(status: int, code: str, message: str, headers: dict | None = None, detail=None) -> JSONResponse:
    body = ErrorBody(error=code, message=message, detail=detail).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=body, headers=headers)


@app.exception_handler(RequestValidationError)
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
    return error(422, "invalid_request", summary, detail=detail)


@app.exception_handler(StarletteHTTPException)
async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own errors (405, 404 route, unreadable body) in the API's error shape."""
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


@app.middleware("http")
async def record_metrics(request: Request, call_next):
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        # The route's template (/api/sessions/{session_id}/messages), not the raw path,
        # so every session does not become its own time series.
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(status)).inc()
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)


# The database (SQLAlchemy or the checkpointer's psycopg pool) is down or restarting:
# the turn did not happen; the client may send it again.
@app.exception_handler(OperationalError)
@app.exception_handler(psycopg.OperationalError)
@app.exception_handler(psycopg_pool.PoolTimeout)
async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return error(503, "database_unavailable", "The database is not answering; please retry shortly.", {"Retry-After": "5"})


@app.exception_handler(SessionBusy)
async def session_busy(_request: Request, _exc: SessionBusy) -> JSONResponse:
    return error(503, "session_busy", "Another message of this session is still being answered; please retry.", {"Retry-After": "2"})


def loaded(request: Request) -> ChatService | JSONResponse:
    holder: BotHolder = request.app.state.bot
    if holder.service is None:
        return error(503, "starting", holder.error or "The bot is still loading; please retry shortly.", {"Retry-After": "5"})
    return holder.service


@app.post("/api/chatbot", response_model=ChatResponse, responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
async def chatbot(body: ChatRequest, request: Request):
    service = loaded(request)
    if isinstance(service, JSONResponse):
        return service
    try:
        result = await service.send(body.session_id, body.customer_id, body.message)
    except UnknownCustomer:
        return error(404, "unknown_customer", f"No outlet has customer_id {body.customer_id!r}.")
    except SessionForbidden:
        return error(403, "forbidden", "This session belongs to another customer.")
    return result


@app.post(
    "/api/chatbot/stream",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "`token` events, then one `done` event with the /api/chatbot body."},
        403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody},
    },
)
async def chatbot_stream(body: ChatRequest, request: Request):
    """The same turn as /api/chatbot, as server-sent events: `token` events
    (`{"text": ...}`) as the reply is written, then `done` with the /api/chatbot body.
    404 `streaming_disabled` when ENABLE_STREAMING is off."""
    if not get_settings().enable_streaming:
        return error(404, "streaming_disabled", "Streaming is off (ENABLE_STREAMING=false); use POST /api/chatbot.")
    service = loaded(request)
    if isinstance(service, JSONResponse):
        return service
    events = service.stream(body.session_id, body.customer_id, body.message)
    try:
        await anext(events)  # ("started", None): the customer may use this session
    except UnknownCustomer:
        return error(404, "unknown_customer", f"No outlet has customer_id {body.customer_id!r}.")
    except SessionForbidden:
        return error(403, "forbidden", "This session belongs to another customer.")

    async def sse():
        try:
            async for kind, value in events:
                if kind == "token":
                    yield _sse("token", {"text": value})
                elif kind == "result":
                    yield _sse("done", value.model_dump(mode="json"))
        except Exception as exc:  # the status line is sent: report the failure in the stream
            log.exception("streamed turn failed")
            yield _sse("error", {"error": "turn_failed", "message": str(exc) or type(exc).__name__})
        finally:
            await events.aclose()

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@app.get(
    "/api/sessions/{session_id}/messages",
    response_model=Transcript,
    responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def session_messages(
    request: Request,
    session_id: Annotated[str, Path(min_length=1, max_length=128, pattern=SESSION_ID_PATTERN)],
    customer_id: Annotated[str, Query(min_length=1, max_length=16, pattern=CUSTOMER_ID_PATTERN)],
):
    """The session's whole conversation, for the customer who owns it."""
    service = loaded(request)
    if isinstance(service, JSONResponse):
        return service
    try:
        messages = await service.transcript(session_id, customer_id)
    except SessionNotFound:
        return error(404, "unknown_session", f"No conversation has session_id {session_id!r}.")
    except SessionForbidden:
        return error(403, "forbidden", "This session belongs to another customer.")
    return {
        "session_id": session_id,
        "customer_id": customer_id,
        "messages": [
            {
                "role": "customer" if m.type == "human" else "assistant",
                "content": m.content,
                "at": m.additional_kwargs.get("at"),
                "intent": m.response_metadata.get("intent"),
            }
            for m in messages
        ],
    }


@app.get("/health", response_model=Health)
async def health(request: Request):
    holder: BotHolder = request.app.state.bot
    service = holder.service
    database = chromadb = "not_loaded"
    redis = "not_configured"
    latency: dict[str, float] = {}
    breakers = {"xero": "not_configured", "openai": "not_configured", "database": "closed"}
    if service is not None:
        ctx = service.context
        database, latency["database"] = await asyncio.to_thread(_probe, ctx.repository.ping)
        chromadb, latency["chromadb"] = await asyncio.to_thread(_probe, ctx.policy_kb.count)
        if isinstance(ctx.cache, RedisCache):
            redis, latency["redis"] = await asyncio.to_thread(_probe, ctx.cache.ping)
        breakers["xero"] = ctx.invoices.status()
        if ctx.llm is not None:
            breakers["openai"] = ctx.llm.status()
    if service is None:
        status = "unhealthy" if holder.error else "starting"
    elif (
        database == "connected" and chromadb == "connected" and redis != "disconnected"
        and breakers["openai"] != "open"
    ):
        status = "healthy"
    else:
        # Answers still come (uncached without Redis, offline without the model); the
        # dependency needs attention.
        status = "degraded"
    return Health(
        status=status,
        timestamp=datetime.now(timezone.utc),
        version=VERSION,
        database=database,
        redis=redis,
        chromadb=chromadb,
        latency_ms=latency,
        circuit_breakers=breakers,
    )


def _probe(check) -> tuple[str, float]:
    """("connected" | "disconnected", milliseconds the check took)."""
    started = time.perf_counter()
    try:
        check()
        state = "connected"
    except Exception as exc:
        log.warning("health probe failed: %s", exc)
        state = "disconnected"
    return state, round((time.perf_counter() - started) * 1000, 2)


@app.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus exposition: requests, cache hits and misses, node and checkpoint times."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@app.get("/readiness")
async def readiness(request: Request):
    holder: BotHolder = request.app.state.bot
    if holder.service is None:
        return error(503, "not_ready", holder.error or "Loading the graph, database and knowledge base.", {"Retry-After": "5"})
    return {"ready": True}
