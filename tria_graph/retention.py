"""Retention: remove conversations nobody has used for a while.

A conversation is its checkpoints, its transcript and its chat_sessions row. They are
removed in that order, a batch at a time, so a run that stops part-way is finished by
the next run (the session row, removed last, is how the next run finds it again).
Orders, invoices and escalations are business records and are never removed here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .adapters.checkpoints import open_storage
from .adapters.database import make_engine, session_factory
from .adapters.repository import Repository
from .adapters.transcripts import transcript_store
from .config import Settings

BATCH = 500


async def prune_conversations(settings: Settings, older_than: timedelta, now: datetime) -> int:
    """Remove every conversation idle since `now - older_than`; returns how many."""
    engine = make_engine(settings.sqlalchemy_url)
    repository = Repository(session_factory(engine))
    removed = 0
    try:
        async with open_storage(settings) as storage:
            transcripts = transcript_store(storage.pool, repository.sessions)
            while session_ids := repository.idle_sessions(now - older_than, limit=BATCH):
                for session_id in session_ids:
                    await storage.saver.adelete_thread(session_id)
                await transcripts.delete(session_ids)
                repository.forget_sessions(session_ids)
                removed += len(session_ids)
    finally:
        engine.dispose()
    return removed
