"""Assemble the real parts from settings: database, models, knowledge base, saver.

`open_chat_service` is what the server's lifespan and the CLI use; a library user
may call `build_context` and `build_graph` directly instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from .adapters.database import create_schema, make_engine, session_factory
from .adapters.embeddings import LocalEmbeddings
from .adapters.intent_classifier import IntentClassifier
from .adapters.invoices import LocalInvoiceGateway
from .adapters.policy_kb import PolicyKB
from .adapters.repository import Repository
from .config import Settings, get_settings
from .context import Context
from .conversation import ChatService
from .domain.catalog import CatalogMatcher
from .graph import build_graph


class NotReady(RuntimeError):
    """A part the bot needs is missing (the message says which command fixes it)."""


def build_context(settings: Settings | None = None, embeddings: LocalEmbeddings | None = None) -> Context:
    settings = settings or get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    sessions = session_factory(engine)
    repository = Repository(sessions)
    products = repository.products()
    if not products:
        raise NotReady("The database has no products: run `tria db seed` first.")
    embeddings = embeddings or LocalEmbeddings(settings.var_dir / "models")
    kb = PolicyKB(embeddings, settings.resolved_chroma_dir, settings.chroma_collection)
    if kb.count() == 0:
        raise NotReady("The policy knowledge base is empty: run `tria kb build` first.")
    # Load models and indexes at start-up so the first customer does not wait for them.
    embeddings.load()
    kb.load()
    classifier = IntentClassifier.load_or_train(
        embeddings, settings.var_dir / "models", settings.intent_threshold
    )
    return Context(
        settings=settings,
        repository=repository,
        invoices=LocalInvoiceGateway(sessions, settings.tax_rate, settings.payment_terms_days),
        policy_kb=kb,
        classifier=classifier,
        catalog=CatalogMatcher(products),
    )


@asynccontextmanager
async def open_chat_service(settings: Settings | None = None) -> AsyncIterator[ChatService]:
    settings = settings or get_settings()
    # Loading the model and the knowledge base takes seconds: keep the loop free.
    context = await asyncio.to_thread(build_context, settings)
    async with AsyncSqliteSaver.from_conn_string(str(settings.resolved_checkpoint_db)) as saver:
        await saver.setup()
        yield ChatService(build_graph(saver), context)
