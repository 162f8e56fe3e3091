"""Hand the conversation to a person: complaints, and orders held for review."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from .. import replies
from ..context import Context
from ..domain.escalation import ANOMALY_LEVEL, NewEscalation, complaint_level
from ..state import State


async def escalate(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    customer_id = state["customer_id"]
    draft = state.get("draft")
    if state.get("intent") == "order_placement" and draft and draft["status"] == "held_for_review":
        kind, level = "anomaly", ANOMALY_LEVEL
        reason = "; ".join(replies.anomaly_reasons(draft["anomalies"]))
        details: dict = {"draft": draft}
    else:
        kind, reason = "complaint", "customer complaint"
        previous = await asyncio.to_thread(ctx.escalations.complaints, customer_id)
        level = complaint_level(state["message"], previous)
        numbers = state.get("entities", {}).get("order_numbers") or []
        # Only the customer's own order is attached to the record.
        mine = numbers and await asyncio.to_thread(ctx.orders.order, customer_id, numbers[0])
        details = {"order_number": numbers[0]} if mine else {}
    escalation = await asyncio.to_thread(
        ctx.escalations.create,
        NewEscalation(
            customer_id=customer_id,
            session_id=state.get("session_id", ""),
            level=level,
            kind=kind,
            reason=reason,
            message=state["message"],
            details=details,
            created_at=ctx.now(),
        ),
    )
    return {"escalation": escalation}
