"""The schema comes from Alembic migrations, on SQLite and on Postgres alike."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from tests.support import backends
from tests.conftest import make_settings
from tria_graph.adapters.database import Base, make_engine, transcript_id
from tria_graph.adapters.migrations import (
    SchemaBehind,
    alembic_config,
    current_revision,
    ensure_current,
    head_revision,
    migrate,
)
from tria_graph.bootstrap import NotReady, build_context


@pytest.fixture(params=["sqlite", backends.POSTGRES_ONLY])
def empty_engine(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    backends.require_postgres()
    name = backends.create_database()
    engine = make_engine(backends.database_url(name).replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()
    backends.drop_database(name)


def test_migrations_build_exactly_the_models_schema(empty_engine):
    before, after = migrate(empty_engine)
    assert (before, after) == (None, head_revision())
    with empty_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == [], "models and migrations disagree: add a migration"
    ensure_current(empty_engine)  # does not raise


def test_migrate_twice_changes_nothing(empty_engine):
    migrate(empty_engine)
    assert migrate(empty_engine) == (head_revision(), head_revision())


def test_lookup_indexes_exist(empty_engine):
    migrate(empty_engine)
    indexes = {
        table: {tuple(i["column_names"]) for i in inspect(empty_engine).get_indexes(table)}
        for table in ("orders", "escalations", "chat_sessions", "chat_messages", "order_lines")
    }
    assert ("customer_id", "created_at") in indexes["orders"]  # latest order
    assert ("customer_id", "kind") in indexes["escalations"]  # repeat complaints
    assert ("last_active_at",) in indexes["chat_sessions"]  # pruning
    assert ("session_id",) in indexes["chat_messages"]  # a transcript
    assert ("order_id",) in indexes["order_lines"]


def test_an_older_schema_is_upgraded_keeping_its_rows(empty_engine):
    command.upgrade(alembic_config(empty_engine), "0001")
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO outlets (customer_id, name, contact_name, phone, email, address, usual_order_value, usual_order_days) "
            "VALUES ('OUT-001', 'Canton', 'Mei', '1', 'a@b', 'SG', 100, '')"
        ))
        conn.execute(
            text("INSERT INTO chat_sessions (session_id, customer_id, created_at) VALUES ('old-1', 'OUT-001', :t)"),
            {"t": datetime(2026, 1, 5, tzinfo=timezone.utc)},
        )
    with pytest.raises(SchemaBehind, match="tria db migrate"):
        ensure_current(empty_engine)

    assert migrate(empty_engine) == ("0001", head_revision())
    with empty_engine.connect() as conn:
        row = conn.execute(text("SELECT customer_id, last_active_at, transcript_id FROM chat_sessions")).one()
    assert row.customer_id == "OUT-001"
    assert row.last_active_at is not None  # backfilled from created_at
    assert str(row.transcript_id).replace("-", "") == transcript_id("old-1").hex


def test_a_database_made_before_migrations_is_adopted(tmp_path):
    """The first release created its tables without Alembic: `migrate` recognises them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert current_revision(engine) is None
    assert migrate(engine) == (None, head_revision())
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_the_bot_refuses_to_start_on_an_old_schema(seeded_var, tmp_path, embeddings):
    var = tmp_path / "var"
    var.mkdir()
    (var / "chroma").symlink_to(seeded_var / "chroma")
    (var / "models").symlink_to(seeded_var / "models")
    settings = make_settings(var)
    engine = make_engine(settings.sqlalchemy_url)
    command.upgrade(alembic_config(engine), "0001")
    engine.dispose()
    with pytest.raises(NotReady, match=r"revision 0001.*tria db migrate"):
        build_context(settings, embeddings=embeddings)
