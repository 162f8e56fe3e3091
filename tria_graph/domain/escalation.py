"""Escalations: levels, who answers within how long, and the record a new one gets.

The Escalation policy routes complaints by what they say and how often the outlet has
complained; anomalous orders go to L3; invoices Xero rejects go to L2 (billing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .records import EscalationKind, EscalationLevel


@dataclass(frozen=True)
class Level:
    code: EscalationLevel
    team: str
    response_time: timedelta


LEVELS: dict[str, Level] = {
    "L1": Level("L1", "customer service team", timedelta(hours=4)),
    "L2": Level("L2", "account manager", timedelta(hours=2)),
    "L3": Level("L3", "operations supervisor", timedelta(hours=1)),
    "L4": Level("L4", "management", timedelta(minutes=30)),
}
ANOMALY_LEVEL: EscalationLevel = "L3"
XERO_REJECTED_LEVEL: EscalationLevel = "L2"

# Why patterns here: the level is a routing rule written in the policy, applied after
# the classifier has already decided the message is a complaint.
_L4 = re.compile(
    r"food[- ]?poison|sick|ill after|contaminat|mould|mold|insect|cockroach|lawyer|"
    r"legal|sue\b|police|health (authority|ministry)|\bsfa\b|unsafe",
    re.I,
)
_L2 = re.compile(
    r"damag|broken|crush|torn|wet|soggy|leak|wrong|missing|short|incomplete|"
    r"late|delay|never (came|arrived)|not (arrived|delivered|received)|dent",
    re.I,
)
_L3 = re.compile(r"overcharg|charged twice|double charg|billing|bill is wrong|refund|again and again|third time|every time", re.I)


def complaint_level(text: str, previous_escalations: int = 0) -> EscalationLevel:
    """Level for a complaint; a customer who escalated twice before goes to L4."""
    if _L4.search(text) or previous_escalations >= 2:
        return "L4"
    if _L3.search(text):
        return "L3"
    if _L2.search(text):
        return "L2"
    return "L1"


def due_by(created_at: datetime, level: str) -> datetime:
    return created_at + LEVELS[level].response_time


def escalation_reference(sequence: int) -> str:
    """ESC-00042: the sequence is the escalation's database id, so never reused."""
    return f"ESC-{sequence:05d}"


@dataclass(frozen=True)
class NewEscalation:
    """What opening an escalation records; the store numbers it."""

    customer_id: str
    session_id: str
    level: EscalationLevel
    kind: EscalationKind
    reason: str  # for staff
    message: str  # what the customer (or Xero) said
    details: dict
    created_at: datetime

    @property
    def due_at(self) -> datetime:
        return due_by(self.created_at, self.level)
