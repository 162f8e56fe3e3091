"""The HTTP server: the FastAPI app, its lifespan and middleware, and the routers.

The lifespan starts loading the bot in the background so /health and /readiness
answer while the model and knowledge base load; the API answers 503 until then.
Routes live in server/routes, the service and auth dependencies in deps.py, every error
answer in errors.py; the library does the work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request

from tria_graph.adapters.rate_limits import RateLimits
from tria_graph.auth import Authenticator
from tria_graph.bootstrap import open_chat_service
from tria_graph.config import get_settings
from tria_graph.metrics import HTTP_LATENCY, HTTP_REQUESTS

from . import errors
from .deps import BotHolder
from .routes import admin, auth, chat, ops, sessions

log = logging.getLogger("tria.server")


@asynccontextmanager
async def lifespan(app: FastAPI):
    holder = BotHolder()
    app.state.bot = holder
    # Rate limits (server/limits.py): opened here, on this loop, so they answer while the
    # bot loads; in Redis when REDIS_URL is set.
    app.state.rate_limits = RateLimits.from_settings(get_settings())
    async with AsyncExitStack() as stack:
        stack.push_async_callback(app.state.rate_limits.aclose)

        async def load() -> None:
            try:
                # This module's name, looked up when loading starts: tests replace it.
                service = await stack.enter_async_context(open_chat_service(get_settings()))
                # Credentials are checked against the same database (users, keys, revocations).
                settings = get_settings()
                if settings.uses_postgres and not settings.auth_signing_keys:
                    log.warning("AUTH_SIGNING_KEYS is unset: tokens are signed with this VAR_DIR's own key, "
                                "which other replicas do not share")
                holder.auth = Authenticator.from_settings(settings, service.context.database.sessions)
                holder.service = service
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
    app.state.rate_limits = None  # closed: a later run of this app opens its own


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


def create_app() -> FastAPI:
    app = FastAPI(title="Tria customer service", version=ops.VERSION, lifespan=lifespan)
    errors.register(app)
    app.middleware("http")(record_metrics)
    for module in (auth, chat, sessions, admin, ops):
        app.include_router(module.router)
    return app


app = create_app()
