"""The database schema's version: upgrade it (Alembic) or check it is current.

`tria db migrate` upgrades; the server only checks, and refuses to start with a
message naming the command when the schema is behind, so two replicas starting at
once never race to change it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Databases made before migrations existed hold this revision's tables already.
FIRST_REVISION = "0001"
# Postgres advisory lock id: one `tria db migrate` at a time across machines.
MIGRATION_LOCK_ID = 72_001


class SchemaBehind(RuntimeError):
    """The database schema is older than this code (or absent)."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade the schema to the newest revision; returns (before, after)."""
    config = alembic_config(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()
        try:
            before = MigrationContext.configure(conn).get_current_revision()
            if before is None and inspect(conn).has_table("products"):
                # Made by an earlier build with create_all: adopt it as revision 0001.
                config.attributes["connection"] = conn
                command.stamp(config, FIRST_REVISION)
                conn.commit()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                conn.commit()
    return before, head_revision()


def ensure_current(engine: Engine) -> None:
    """Raise SchemaBehind, naming the fix, unless the schema is at the newest revision."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise SchemaBehind(
            "The database has no schema yet: run `tria db seed` for the demo data "
            "(it migrates first), or `tria db migrate` for an empty schema."
        )
    if current != head:
        raise SchemaBehind(
            f"The database schema is at revision {current}; this version needs {head}. "
            "Run `tria db migrate` first."
        )
