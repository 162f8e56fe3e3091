"""Shared test parts: one seeded database, knowledge base and classifier per run.

Building them takes ~30 s (embedding), so it happens once per session in a temporary
VAR_DIR; every test that writes gets its own copy of the database.

Backends: `settings` is embedded (SQLite, in-process cache and locks) unless the test
module overrides the `backend` fixture, as test_conversations.py does to run every
conversation on both "embedded" and "postgres" (Postgres data, checkpoints and
transcripts, Redis caches and locks; see tests/support/backends.py).

Tiers (one folder each): unit/ (no services, no embedding model; its conftest refuses
the model fixtures), integration/, system/ and eval/; helpers in support/. Every test
is marked with its tier, and with `postgres` / `redis` when it needs them (see
`pytest_collection_modifyitems` below), so `-m "not postgres and not redis"` works.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.support import backends
from tria_graph.adapters.embeddings import LocalEmbeddings
from tria_graph.bootstrap import build_context, open_chat_service
from tria_graph.config import Settings
# One business clock and one seeded VAR_DIR for the tests and the evaluation suite.
from tria_graph.demo_data import DEMO_NOW as MONDAY_10AM, SGT, Clock, build_demo_var, seed_database  # noqa: F401

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "system", "eval")


def pytest_collection_modifyitems(config, items) -> None:
    """Mark each test with its tier (its folder) and the services it needs."""
    for item in items:
        path = Path(item.path).resolve()
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if tier in TIERS:
            item.add_marker(tier)
        for service in backends.services_needed(item):
            item.add_marker(service)


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
    return build_demo_var(var, embeddings)


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
    ctx.close()


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
