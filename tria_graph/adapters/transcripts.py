"""Transcripts: every message of every conversation, in a table operators can query.

The checkpoint keeps only recent turns (state stays small); the transcript keeps
them all, until `tria admin prune` removes the conversation. Both stores write the
`chat_messages` table (see adapters/database.py), one row per message, keyed by the
session's transcript UUID:

    SELECT s.session_id, s.customer_id, m.message->'data'->>'content'
    FROM chat_sessions s JOIN chat_messages m ON m.session_id = s.transcript_id
    ORDER BY m.id;

On Postgres, langchain-postgres's PostgresChatMessageHistory writes and reads it on
the shared psycopg pool; in embedded mode SQLAlchemy does the same on SQLite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from sqlalchemy import delete, select
from sqlalchemy.orm import sessionmaker

from ..extras import require
from .database import ChatMessageRow, transcript_id

if TYPE_CHECKING:  # the [postgres] extra; imported where used
    from langchain_postgres import PostgresChatMessageHistory
    from psycopg_pool import AsyncConnectionPool

TABLE = ChatMessageRow.__tablename__


class TranscriptStore(Protocol):
    async def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None: ...
    async def messages(self, session_id: str) -> list[BaseMessage]: ...
    async def delete(self, session_ids: Sequence[str]) -> None: ...


class SqlTranscripts:
    """The transcript through SQLAlchemy (embedded mode: SQLite)."""

    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    async def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        rows = [
            # Round-trip through JSON so the row holds exactly what Postgres would.
            ChatMessageRow(session_id=transcript_id(session_id), message=json.loads(json.dumps(message_to_dict(m))))
            for m in messages
        ]

        def write() -> None:
            with self.sessions() as s:
                s.add_all(rows)
                s.commit()

        await asyncio.to_thread(write)

    async def messages(self, session_id: str) -> list[BaseMessage]:
        def read() -> list[dict]:
            with self.sessions() as s:
                return list(
                    s.scalars(
                        select(ChatMessageRow.message)
                        .where(ChatMessageRow.session_id == transcript_id(session_id))
                        .order_by(ChatMessageRow.id)
                    )
                )

        return messages_from_dict(await asyncio.to_thread(read))

    async def delete(self, session_ids: Sequence[str]) -> None:
        ids = [transcript_id(s) for s in session_ids]

        def remove() -> None:
            with self.sessions() as s:
                s.execute(delete(ChatMessageRow).where(ChatMessageRow.session_id.in_(ids)))
                s.commit()

        await asyncio.to_thread(remove)


class PostgresTranscripts:
    """The transcript through langchain-postgres, on the pool the checkpointer uses."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._history_class = require("langchain_postgres", "postgres").PostgresChatMessageHistory

    @asynccontextmanager
    async def _history(self, session_id: str) -> AsyncIterator[PostgresChatMessageHistory]:
        from psycopg.rows import dict_row, tuple_row

        async with self.pool.connection() as conn:
            # The pool's connections return dict rows (the checkpointer needs them);
            # langchain-postgres reads rows by position, so lend it tuple rows.
            conn.row_factory = tuple_row
            try:
                yield self._history_class(TABLE, str(transcript_id(session_id)), async_connection=conn)
            finally:
                conn.row_factory = dict_row

    async def append(self, session_id: str, messages: Sequence[BaseMessage]) -> None:
        async with self._history(session_id) as history:
            await history.aadd_messages(list(messages))

    async def messages(self, session_id: str) -> list[BaseMessage]:
        async with self._history(session_id) as history:
            return await history.aget_messages()

    async def delete(self, session_ids: Sequence[str]) -> None:
        for session_id in session_ids:
            async with self._history(session_id) as history:
                await history.aclear()


def transcript_store(pool: AsyncConnectionPool | None, sessions: sessionmaker) -> TranscriptStore:
    """Postgres's langchain-postgres store when there is a Postgres pool, else SQLAlchemy."""
    return PostgresTranscripts(pool) if pool is not None else SqlTranscripts(sessions)
