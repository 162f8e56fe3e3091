"""Shared test parts: one seeded database, knowledge base and classifier per run.

Building them takes ~30 s (embedding), so it happens once per session in a temporary
VAR_DIR; every test that writes gets its own copy of the database.

Backends: `settings` is embedded (SQLite, in-process cache and locks) unless the test
module overrides the `backend` fixture, as test_conversations.py does to run every
conversation on both "embedded" and "postgres" (Postgres data, checkpoints and
transcripts, Redis caches and locks; see tests/backends.py).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests import backends
from tria_graph.adapters.database import make_engine, session_factory
from tria_graph.adapters.embeddings import LocalEmbeddings
from tria_graph.adapters.intent_classifier import IntentClassifier
from tria_graph.adapters.migrations import migrate
from tria_graph.adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages
from tria_graph.bootstrap import build_context, open_chat_service
from tria_graph.config import DATA_DIR, Settings
from tria_graph.demo_data import catalog_products, seed

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
    # The models directory of the `embeddings` fixture, shared by servers on this VAR_DIR.
    (var / "models").symlink_to(embeddings.model_cache_dir)
    settings = make_settings(var)
    seed_database(settings)
    kb = PolicyKB.from_settings(settings, embeddings)
    kb.build(load_policy_passages(DATA_DIR / "policies") + catalog_passages(catalog_products()))
    IntentClassifier.load_or_train(embeddings, var / "models", settings.intent_threshold)
    return var


def seed_database(settings: Settings) -> None:
    """Migrate the settings' database and write the demo data as of MONDAY_10AM."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            seed(session, settings, today=MONDAY_10AM.date())
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory) -> str:
    """A Postgres database, migrated and seeded, with the checkpoint tables: the
    template every Postgres test copies."""
    backends.require_postgres()
    name = backends.create_database()
    url = backends.database_url(name)
    seed_database(make_settings(tmp_path_factory.mktemp("pg"), DATABASE_URL=url))
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(url) as saver:
        saver.setup()
    yield name
    backends.drop_database(name)


@pytest.fixture
def postgres_url(postgres_template) -> str:
    """A private Postgres database for one test, copied from the seeded template."""
    name = backends.create_database(template=postgres_template)
    yield backends.database_url(name)
    backends.drop_database(name)


@pytest.fixture
def redis_prefix() -> str:
    """A private key prefix in the test Redis, deleted after the test."""
    client = backends.require_redis()
    prefix = f"tria-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    backends.delete_keys(client, prefix)
    client.close()


@pytest.fixture
def backend() -> str:
    """Which backends `settings` uses; a module overrides this to parametrize it."""
    return "embedded"


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
def settings(var_dir, backend, request) -> Settings:
    if backend == "embedded":
        return make_settings(var_dir)
    return make_settings(
        var_dir,
        DATABASE_URL=request.getfixturevalue("postgres_url"),
        REDIS_URL=backends.REDIS_URL,
        REDIS_KEY_PREFIX=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(settings, embeddings, clock):
    ctx = build_context(settings, embeddings=embeddings, clock=clock)
    yield ctx
    ctx.repository.dispose()


def db_rows(where: Path | Settings, sql: str, **params) -> list:
    """Rows of a raw SQL query on a VAR_DIR's SQLite database, or the settings' database."""
    from sqlalchemy import create_engine, text

    url = where.sqlalchemy_url if isinstance(where, Settings) else f"sqlite:///{where / 'tria.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


class Chat:
    """Drives a ChatService, opened on the settings' backends, from synchronous tests
    on one event loop of its own."""

    def __init__(self, settings: Settings, embeddings, clock, customer_id: str = "OUT-001", session_id: str = "s-1") -> None:
        self.customer_id = customer_id
        self.session_id = session_id
        self.loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        self.service = self.run(
            self._stack.enter_async_context(open_chat_service(settings, embeddings=embeddings, clock=clock))
        )

    def run(self, awaitable):
        return self.loop.run_until_complete(awaitable)

    def send(self, message: str, customer_id: str | None = None, session_id: str | None = None):
        return self.run(self.service.send(session_id or self.session_id, customer_id or self.customer_id, message))

    def state(self, session_id: str | None = None) -> dict:
        config = {"configurable": {"thread_id": session_id or self.session_id}}
        return self.run(self.service.graph.aget_state(config)).values

    def close(self) -> None:
        if not self.loop.is_closed():
            self.run(self._stack.aclose())
            self.loop.close()


@pytest.fixture
def chat(settings, embeddings, clock):
    c = Chat(settings, embeddings, clock)
    yield c
    c.close()
