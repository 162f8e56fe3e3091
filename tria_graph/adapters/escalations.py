"""Escalation records: the one place an escalation is written.

The conversation opens them (complaints, orders held for review) through
`EscalationStore.create`; the Xero worker opens one inside its own transaction with
`add_escalation`. Both number it with domain.escalation.escalation_reference.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..domain.escalation import NewEscalation, escalation_reference
from ..domain.records import Escalation
from .database import EscalationRow


def add_escalation(s: Session, new: NewEscalation) -> EscalationRow:
    """The escalation row, numbered, in the caller's transaction (not committed)."""
    row = EscalationRow(
        customer_id=new.customer_id,
        session_id=new.session_id,
        level=new.level,
        kind=new.kind,
        reason=new.reason,
        message=new.message,
        # JSON-safe: dates and Decimals in details become strings.
        details=json.loads(json.dumps(new.details, default=str)),
        status="open",
        created_at=new.created_at,
        due_at=new.due_at,
    )
    s.add(row)
    s.flush()
    row.reference = escalation_reference(row.id)
    return row


def escalation_record(row: EscalationRow) -> Escalation:
    return Escalation(
        reference=row.reference,
        level=row.level,  # type: ignore[typeddict-item]
        kind=row.kind,  # type: ignore[typeddict-item]
        reason=row.reason,
        due_at=row.due_at,
    )


class EscalationStore:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    def complaints(self, customer_id: str) -> int:
        """How many complaints the customer has made (repeat complaints go higher)."""
        with self.sessions() as s:
            return s.scalar(
                select(func.count()).select_from(EscalationRow).where(
                    EscalationRow.customer_id == customer_id, EscalationRow.kind == "complaint"
                )
            )

    def create(self, new: NewEscalation) -> Escalation:
        with self.sessions() as s:
            row = add_escalation(s, new)
            s.commit()
            return escalation_record(row)
