"""Shared test parts: one seeded database, knowledge base and classifier per run.

Building them takes ~30 s (embedding), so it happens once per session in a temporary
VAR_DIR; every test that writes gets its own copy of the SQLite database.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tria_graph.adapters.database import create_schema, make_engine, session_factory
from tria_graph.adapters.embeddings import LocalEmbeddings
from tria_graph.adapters.intent_classifier import IntentClassifier
from tria_graph.adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages
from tria_graph.bootstrap import build_context
from tria_graph.config import DATA_DIR, Settings
from tria_graph.conversation import ChatService
from tria_graph.demo_data import seed
from tria_graph.graph import build_graph

SGT = ZoneInfo("Asia/Singapore")
# Monday 23 Nov 2026, 10:00 in Singapore: before the 2:00 PM cutoff.
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)


class Clock:
    """A settable business clock (Singapore time)."""

    def __init__(self, now: datetime = MONDAY_10AM) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_settings(var_dir: Path, **overrides) -> Settings:
    return Settings(VAR_DIR=str(var_dir), **overrides)


@pytest.fixture(scope="session")
def embeddings(tmp_path_factory) -> LocalEmbeddings:
    return LocalEmbeddings(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def seeded_var(tmp_path_factory, embeddings) -> Path:
    """A VAR_DIR with the demo database, the knowledge base and a trained classifier."""
    var = tmp_path_factory.mktemp("var")
    settings = make_settings(var)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    with session_factory(engine)() as session:
        seed(session, settings, today=MONDAY_10AM.date())
    engine.dispose()
    from tria_graph.demo_data import catalog_products

    products = catalog_products()
    kb = PolicyKB(embeddings, settings.resolved_chroma_dir, settings.chroma_collection)
    kb.build(load_policy_passages(DATA_DIR / "policies") + catalog_passages(products))
    IntentClassifier.load_or_train(embeddings, var / "models", settings.intent_threshold)
    return var


@pytest.fixture
def var_dir(seeded_var, tmp_path) -> Path:
    """A private VAR_DIR: its own copy of the database, shared KB and model files."""
    var = tmp_path / "var"
    var.mkdir()
    shutil.copy(seeded_var / "tria.db", var / "tria.db")
    (var / "chroma").symlink_to(seeded_var / "chroma")
    (var / "models").symlink_to(seeded_var / "models")
    return var


@pytest.fixture
def settings(var_dir) -> Settings:
    return make_settings(var_dir)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(settings, embeddings, clock):
    ctx = build_context(settings, embeddings=embeddings)
    ctx.clock = clock
    return ctx


def db_rows(var: Path, sql: str, **params) -> list:
    """Rows of a raw SQL query on a VAR_DIR's orders database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{var / 'tria.db'}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


class Chat:
    """Drives ChatService turns from synchronous tests on one event loop."""

    def __init__(self, service: ChatService, customer_id: str = "OUT-001", session_id: str = "s-1") -> None:
        self.service = service
        self.customer_id = customer_id
        self.session_id = session_id
        self.loop = asyncio.new_event_loop()

    def send(self, message: str, customer_id: str | None = None, session_id: str | None = None):
        return self.loop.run_until_complete(
            self.service.send(session_id or self.session_id, customer_id or self.customer_id, message)
        )

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def chat(context):
    service = ChatService(build_graph(), context)
    c = Chat(service)
    yield c
    c.close()
