"""Who owns each conversation, and when it was last used.

A session belongs to the customer who opened it; pruning removes sessions idle for
long (see retention.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from .database import ChatSessionRow, transcript_id


class ChatSessionStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def bind(self, session_id: str, customer_id: str, now: datetime) -> str:
        """The customer who owns the session; the first caller becomes the owner.

        The owner's use also marks the session active now (pruning goes by that)."""
        with self.sessions() as s:
            row = s.get(ChatSessionRow, session_id)
            if row is None:
                s.add(
                    ChatSessionRow(
                        session_id=session_id,
                        customer_id=customer_id,
                        created_at=now,
                        last_active_at=now,
                        transcript_id=transcript_id(session_id),
                    )
                )
                try:
                    s.commit()
                    return customer_id
                except IntegrityError:  # another request opened it at the same moment
                    s.rollback()
                    row = s.get(ChatSessionRow, session_id)
            if row.customer_id == customer_id:
                row.last_active_at = now
                s.commit()
            return row.customer_id

    def touch(self, session_id: str, customer_id: str, now: datetime) -> bool:
        """Mark the customer's existing session active: one statement, the common case.
        False when the session is new or someone else's (`bind` then decides)."""
        with self.sessions() as s:
            updated = s.execute(
                update(ChatSessionRow)
                .where(ChatSessionRow.session_id == session_id, ChatSessionRow.customer_id == customer_id)
                .values(last_active_at=now)
            ).rowcount
            s.commit()
        return updated == 1

    def owner(self, session_id: str) -> str | None:
        with self.sessions() as s:
            return s.scalar(select(ChatSessionRow.customer_id).where(ChatSessionRow.session_id == session_id))

    def idle(self, before: datetime, limit: int = 1000) -> list[str]:
        """Sessions not used since `before`, oldest first."""
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(ChatSessionRow.session_id)
                    .where(ChatSessionRow.last_active_at < before)
                    .order_by(ChatSessionRow.last_active_at)
                    .limit(limit)
                )
            )

    def forget(self, session_ids: list[str]) -> None:
        with self.sessions() as s:
            s.execute(delete(ChatSessionRow).where(ChatSessionRow.session_id.in_(session_ids)))
            s.commit()
