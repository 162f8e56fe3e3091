"""Hand the conversation to a person: complaints, and orders held for review."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.escalation import complaint_level
from ..state import State


def escalate(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    repo = ctx.repository
    customer_id = state["customer_id"]
    draft = state.get("draft")
    if state.get("intent") == "order_placement" and draft and draft.get("status") == "held_for_review":
        kind, level, reason = "anomaly", "L3", "; ".join(draft["anomalies"])
        details = {"draft": draft}
    else:
        kind = "complaint"
        level = complaint_level(state["message"], repo.count_escalations(customer_id))
        reason = "customer complaint"
        numbers = state.get("entities", {}).get("order_numbers") or []
        # Only the customer's own order is attached to the record.
        details = {"order_number": numbers[0]} if numbers and repo.order(customer_id, numbers[0]) else {}
    escalation = repo.create_escalation(
        customer_id=customer_id,
        session_id=state.get("session_id", ""),
        level=level,
        kind=kind,
        reason=reason,
        message=state["message"],
        details=details,
        now=ctx.now(),
    )
    return {"escalation": escalation}
