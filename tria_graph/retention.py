"""Retention: remove conversations nobody has used for a while.

A conversation is its checkpoints, its transcript and its chat_sessions row. They are
removed in that order, a batch at a time, so a run that stops part-way is finished by
the next run (the session row, removed last, is how the next run finds it again).
Orders, invoices and escalations are business records and are never removed here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .adapters.checkpoints import open_storage
from .adapters.chat_sessions import ChatSessionStore
from .adapters.database import Database
from .adapters.session_locks import FileSessionLocks
from .adapters.transcripts import transcript_store
from .config import Settings

BATCH = 500


async def prune_conversations(settings: Settings, older_than: timedelta, now: datetime) -> int:
    """Remove every conversation idle since `now - older_than`; returns how many."""
    database = Database.from_url(settings.sqlalchemy_url)
    chat_sessions = ChatSessionStore(database.sessions)
    removed = 0
    try:
        async with open_storage(settings) as storage:
            transcripts = transcript_store(storage.pool, database.sessions)
            while session_ids := chat_sessions.idle(now - older_than, limit=BATCH):
                for session_id in session_ids:
                    await storage.saver.adelete_thread(session_id)
                await transcripts.delete(session_ids)
                chat_sessions.forget(session_ids)
                if not settings.redis_url:
                    FileSessionLocks(settings.var_dir / "locks").forget(session_ids)
                removed += len(session_ids)
    finally:
        database.dispose()
    return removed
