"""Escalation levels and who answers within how long (Escalation policy)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Level:
    code: str
    team: str
    response_time: timedelta

    @property
    def response_text(self) -> str:
        minutes = int(self.response_time.total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} minutes"
        hours = minutes // 60
        return f"{hours} hour" + ("s" if hours > 1 else "")


LEVELS = {
    "L1": Level("L1", "customer service team", timedelta(hours=4)),
    "L2": Level("L2", "account manager", timedelta(hours=2)),
    "L3": Level("L3", "operations supervisor", timedelta(hours=1)),
    "L4": Level("L4", "management", timedelta(minutes=30)),
}

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


def complaint_level(text: str, previous_escalations: int = 0) -> str:
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
