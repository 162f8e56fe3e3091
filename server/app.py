"""The HTTP server: routes, schemas and lifespan only; the library does the work.

The lifespan starts loading the bot in the background so /health and /readiness
answer while the model and knowledge base load; /api/chatbot answers 503 until then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timezone
from importlib.metadata import version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tria_graph.bootstrap import open_chat_service
from tria_graph.config import get_settings
from tria_graph.conversation import ChatService, SessionForbidden, UnknownCustomer

from .schemas import ChatRequest, ChatResponse, ErrorBody, Health

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


@app.exception_handler(OperationalError)
async def database_unavailable(_request: Request, _exc: OperationalError) -> JSONResponse:
    return error(503, "database_unavailable", "The database is not answering; please retry shortly.", {"Retry-After": "5"})


@app.post("/api/chatbot", response_model=ChatResponse, responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
async def chatbot(body: ChatRequest, request: Request):
    holder: BotHolder = request.app.state.bot
    if holder.service is None:
        return error(503, "starting", holder.error or "The bot is still loading; please retry shortly.", {"Retry-After": "5"})
    try:
        result = await holder.service.send(body.session_id, body.customer_id, body.message)
    except UnknownCustomer:
        return error(404, "unknown_customer", f"No outlet has customer_id {body.customer_id!r}.")
    except SessionForbidden:
        return error(403, "forbidden", "This session belongs to another customer.")
    return result.__dict__


@app.get("/health", response_model=Health)
async def health(request: Request):
    holder: BotHolder = request.app.state.bot
    service = holder.service
    database = chromadb = "not_loaded"
    breakers = {"xero": "not_configured", "openai": "not_configured", "database": "closed"}
    if service is not None:
        ctx = service.context
        database = await asyncio.to_thread(_probe, ctx.repository.ping)
        chromadb = await asyncio.to_thread(_probe, ctx.policy_kb.count)
        breakers["xero"] = ctx.invoices.status()
    if service is None:
        status = "unhealthy" if holder.error else "starting"
    elif database == "connected" and chromadb == "connected":
        status = "healthy"
    else:
        status = "degraded"
    return Health(
        status=status,
        timestamp=datetime.now(timezone.utc),
        version=VERSION,
        database=database,
        # Redis is not used by this build (caching and locks are in-process).
        redis="not_configured",
        chromadb=chromadb,
        circuit_breakers=breakers,
    )


def _probe(check) -> str:
    started = time.perf_counter()
    try:
        check()
    except Exception:
        return "disconnected"
    log.debug("probe took %.1f ms", (time.perf_counter() - started) * 1000)
    return "connected"


@app.get("/readiness")
async def readiness(request: Request):
    holder: BotHolder = request.app.state.bot
    if holder.service is None:
        return error(503, "not_ready", holder.error or "Loading the graph, database and knowledge base.", {"Retry-After": "5"})
    return {"ready": True}
