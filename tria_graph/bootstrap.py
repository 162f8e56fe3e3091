"""Assemble the real parts from settings: database, models, knowledge base, caches,
locks, transcripts and the checkpointer.

`open_chat_service` is what the server's lifespan and the CLI use; a library user
may call `build_context` and `build_graph` directly instead.

Embedded (the default): SQLite files, local Chroma, in-process caches and locks.
DATABASE_URL=postgresql://... moves data, checkpoints and transcripts to Postgres;
REDIS_URL moves caches and session locks to Redis; CHROMA_HOST uses a Chroma server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

from .adapters.cache import Cache, MemoryCache, RedisCache, ttls
from .adapters.checkpoints import open_storage
from .adapters.chat_sessions import ChatSessionStore
from .adapters.database import Database
from .adapters.embeddings import LocalEmbeddings, kb_embeddings
from .adapters.intent_classifier import IntentClassifier
from .adapters.invoices import LocalInvoiceGateway
from .adapters.llm import LanguageModel
from .adapters.migrations import ensure_current
from .adapters.policy_kb import EmbeddingModelMismatch, PolicyKB
from .adapters.escalations import EscalationStore
from .adapters.orders import OrderStore
from .adapters.session_locks import FileSessionLocks, RedisSessionLocks
from .adapters.transcripts import transcript_store
from .config import Settings, get_settings
from .context import Context
from .conversation import ChatService
from .domain.catalog import CatalogMatcher
from .graph import build_graph


class NotReady(RuntimeError):
    """A part the bot needs is missing (the message says which command fixes it)."""


def make_cache(settings: Settings) -> Cache:
    if settings.redis_url:
        return RedisCache(settings.redis_url, ttls(settings), prefix=settings.redis_key_prefix)
    return MemoryCache(ttls(settings))


def build_xero_worker(settings: Settings, sessions, owner: str | None = None):
    """The outbox worker on the real Xero client, or None when Xero is not configured.

    The rate limiter is shared through Redis when REDIS_URL is set (every process
    together stays under the tenant's limits), in-process otherwise."""
    if not settings.xero_configured:
        return None
    from .adapters.xero.client import XeroClient
    from .adapters.xero.limits import LocalRateLimiter, RedisRateLimiter
    from .adapters.xero.tokens import TokenStore
    from .adapters.xero.worker import XeroWorker

    tokens = TokenStore(sessions, settings.xero_token_key, settings.xero_refresh_token, settings.xero_tenant_id)
    if settings.redis_url:
        limiter = RedisRateLimiter(
            settings.redis_url, settings.redis_key_prefix, settings.xero_calls_per_minute, settings.xero_max_concurrent
        )
    else:
        limiter = LocalRateLimiter(settings.xero_calls_per_minute, settings.xero_max_concurrent)
    client = XeroClient(settings, tokens, limiter)
    return XeroWorker(sessions, client, settings, owner=owner)


def build_context(
    settings: Settings | None = None,
    embeddings: LocalEmbeddings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Context:
    settings = settings or get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    database = Database.from_url(settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow)
    try:
        ensure_current(database.engine)
    except Exception as exc:
        raise NotReady(str(exc)) from exc
    sessions = database.sessions
    orders = OrderStore(sessions, settings.tax_rate, settings.payment_terms_days)
    products = orders.products()
    if not products:
        raise NotReady("The database has no products: run `tria db seed` first.")
    embeddings = embeddings or LocalEmbeddings(settings.var_dir / "models")
    try:
        kb = PolicyKB.from_settings(settings, *kb_embeddings(settings, embeddings))
    except ValueError as exc:
        raise NotReady(str(exc)) from exc
    if kb.count() == 0:
        raise NotReady("The policy knowledge base is empty: run `tria kb build` first.")
    try:
        kb.check_model()
    except EmbeddingModelMismatch as exc:
        raise NotReady(str(exc)) from exc
    # Load models and indexes at start-up so the first customer does not wait for them.
    embeddings.load()
    kb.load()
    classifier = IntentClassifier.load_or_train(
        embeddings, settings.var_dir / "models", settings.intent_threshold
    )
    invoices = LocalInvoiceGateway(sessions, settings.tax_rate, settings.payment_terms_days)
    worker = build_xero_worker(settings, sessions)
    if worker is not None:
        from .adapters.xero.gateway import XeroInvoiceGateway

        invoices = XeroInvoiceGateway(invoices, worker, settings.xero_reply_wait)
    return Context(
        settings=settings,
        orders=orders,
        escalations=EscalationStore(sessions),
        chat_sessions=ChatSessionStore(sessions),
        database=database,
        invoices=invoices,
        policy_kb=kb,
        classifier=classifier,
        catalog=CatalogMatcher(products),
        clock=clock,
        cache=make_cache(settings),
        llm=LanguageModel(settings) if settings.llm_enabled else None,
    )


@asynccontextmanager
async def open_chat_service(
    settings: Settings | None = None,
    *,
    embeddings: LocalEmbeddings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[ChatService]:
    """The chat service on the backends the settings choose, open until the block ends."""
    settings = settings or get_settings()
    async with AsyncExitStack() as stack:
        # Loading the model and the knowledge base takes seconds: keep the loop free.
        context = await asyncio.to_thread(build_context, settings, embeddings, clock)
        stack.callback(context.close)
        worker = getattr(context.invoices, "worker", None)
        if worker is not None:
            # The outbox worker runs beside the chat in this process; `tria worker`
            # runs the same loop alone. Several may run: claims never overlap.
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run_forever(stop))

            async def stop_worker() -> None:
                stop.set()
                await asyncio.gather(task, return_exceptions=True)
                await asyncio.to_thread(worker.close)
                context.invoices.close()

            stack.push_async_callback(stop_worker)
        storage = await stack.enter_async_context(open_storage(settings))
        transcripts = transcript_store(storage.pool, context.database.sessions)
        if settings.redis_url:
            locks = RedisSessionLocks(
                settings.redis_url, settings.redis_key_prefix, settings.session_lock_timeout
            )
            stack.push_async_callback(locks.aclose)
        else:
            # Lock files, not an in-process lock: the server's worker processes (one per
            # core by default) share the embedded database and must take turns too.
            locks = FileSessionLocks(settings.var_dir / "locks", settings.session_lock_timeout)
        yield ChatService(
            build_graph(storage.saver),
            context,
            saver=storage.saver,
            locks=locks,
            transcripts=transcripts,
        )
