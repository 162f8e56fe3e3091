"""The checkpointer: SQLite file (embedded) or Postgres (DATABASE_URL=postgresql://...).

On Postgres one psycopg pool, opened here for the life of the service, carries the
checkpoints and the transcripts. Both savers time their writes into metrics, and
`compact` drops a conversation's superseded checkpoints so its storage stays bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from ..config import Settings
from ..extras import require
from ..metrics import CHECKPOINT_WRITE

if TYPE_CHECKING:  # the [postgres] extra; imported where used
    from psycopg_pool import AsyncConnectionPool


class _TimedWrites:
    """Records how long each checkpoint write takes (tria_checkpoint_write_seconds)."""

    async def aput(self, *args, **kwargs):
        with CHECKPOINT_WRITE.labels("put").time():
            return await super().aput(*args, **kwargs)

    async def aput_writes(self, *args, **kwargs):
        with CHECKPOINT_WRITE.labels("put_writes").time():
            return await super().aput_writes(*args, **kwargs)


class SqliteCheckpointer(_TimedWrites, AsyncSqliteSaver):
    pass


@cache
def postgres_checkpointer_class() -> type[BaseCheckpointSaver]:
    """The timed Postgres saver, made on first use so that the core install (no
    [postgres] extra) never imports psycopg."""
    saver = require("langgraph.checkpoint.postgres.aio", "postgres").AsyncPostgresSaver
    return type("PostgresCheckpointer", (_TimedWrites, saver), {"__module__": __name__})


@dataclass
class Storage:
    """What open_storage yields: the saver, and the Postgres pool when there is one."""

    saver: BaseCheckpointSaver
    pool: AsyncConnectionPool | None = None


def postgres_pool(settings: Settings) -> AsyncConnectionPool:
    AsyncConnectionPool = require("psycopg_pool", "postgres").AsyncConnectionPool
    from psycopg.rows import dict_row

    return AsyncConnectionPool(
        settings.postgres_conninfo,
        min_size=1,
        max_size=settings.db_pool_size + settings.db_max_overflow,
        # The saver needs autocommit, dict rows and no server-side prepared statements
        # (they break behind PgBouncer and after a reconnect).
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        # Checked on checkout, so the first request after a database restart gets a
        # fresh connection instead of a dead one.
        check=AsyncConnectionPool.check_connection,
        # A request waits this long for a connection before failing (503), not forever.
        timeout=5.0,
        open=False,
    )


# Postgres advisory lock id held while the checkpoint tables are created or upgraded.
CHECKPOINT_SETUP_LOCK_ID = 72_002


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    if settings.uses_postgres:
        pool = postgres_pool(settings)
        await pool.open()
        try:
            saver = postgres_checkpointer_class()(pool)
            # Idempotent, but not safe to run twice at once: every worker process of
            # every replica starts here, and two creating the tables together collide
            # (a unique violation on checkpoint_migrations). One at a time, then.
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (CHECKPOINT_SETUP_LOCK_ID,))
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (CHECKPOINT_SETUP_LOCK_ID,))
            yield Storage(saver, pool)
        finally:
            await pool.close()
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        async with SqliteCheckpointer.from_conn_string(str(settings.resolved_checkpoint_db)) as saver:
            await saver.setup()
            yield Storage(saver)


async def compact(saver: BaseCheckpointSaver, thread_id: str) -> None:
    """Keep only the conversation's latest checkpoint (and its pending writes).

    The latest checkpoint holds the whole state the next turn needs, a pending order
    confirmation included; older ones are history the transcript already keeps.
    """
    if isinstance(saver, AsyncSqliteSaver):
        # The SQLite saver has no prune: checkpoint ids are time-ordered UUIDs, so
        # everything below the newest id is superseded.
        async with saver.lock:
            for table in ("checkpoints", "writes"):
                await saver.conn.execute(
                    f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id < "
                    "(SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
                    (thread_id, thread_id),
                )
            await saver.conn.commit()
    else:
        await saver.aprune([thread_id], strategy="keep_latest")
