"""The audit log: who (an outlet's user, an API key, staff, the CLI) did what to which
order, session or key, and when. Entries name things; they never hold a password,
a token or a key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ..adapters.database import AuditRow
from .identity import Identity

# The actor of commands run by an operator at the server (`tria ...`).
CLI = ("cli", "cli")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor_kind: str
    actor: str
    action: str
    target: str | None = None
    outlet_id: str | None = None
    details: dict = field(default_factory=dict)


def actor_of(identity: Identity) -> tuple[str, str]:
    return identity.actor_kind, identity.name


class AuditLog:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def record(
        self,
        actor: tuple[str, str],
        action: str,
        target: str | None = None,
        outlet_id: str | None = None,
        details: dict | None = None,
        at: datetime | None = None,
    ) -> None:
        kind, name = actor
        with self.sessions() as s:
            s.add(AuditRow(
                at=at or datetime.now(timezone.utc), actor_kind=kind, actor=name[:254], outlet_id=outlet_id,
                action=action, target=target[:128] if target else None, details=details or {},
            ))
            s.commit()

    def entries(self, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
        """The newest entries first."""
        with self.sessions() as s:
            query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if action is not None:
                query = query.where(AuditRow.action == action)
            return [
                AuditEntry(_utc(r.at), r.actor_kind, r.actor, r.action, r.target, r.outlet_id, r.details or {})
                for r in s.scalars(query)
            ]


def turn_action(turn) -> tuple[str, str] | None:
    """The audited action a chat turn took, if any: ("order.placed", number) when the
    turn confirmed an order (the "yes" to a draft)."""
    order = turn.order  # a TypedDict (domain/records.py)
    if order is not None and turn.intent == "order_placement" and order["status"] == "confirmed":
        return "order.placed", order["number"]
    return None


def _utc(at: datetime) -> datetime:
    """Entries are written in UTC; SQLite hands them back without the zone (Postgres with it)."""
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at
