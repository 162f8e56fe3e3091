"""Turn the customer's items into a priced draft, or update the pending draft."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.anomalies import anomaly_reasons
from ..domain.catalog import MatchResult, RequestedItem
from ..domain.orders import build_draft, draft_quantities, requested_quantities
from ..state import State


def draft_order(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    settings = ctx.settings
    found = state.get("entities", {})
    match = MatchResult(
        items=[RequestedItem(**item) for item in found.get("products", [])],
        unknown=found.get("unknown_items", []),
    )
    previous = state.get("draft")
    quantities = requested_quantities(match, state["message"], draft_quantities(previous))
    catalog = {p.sku: p for p in ctx.repository.products()}
    draft = build_draft(
        quantities,
        match.unknown,
        catalog,
        tax_rate=settings.tax_rate,
        placed_at=ctx.now(),
        cutoff=settings.order_cutoff,
        delivery_days=settings.delivery_days,
        requested_day=found.get("delivery_day") or (previous or {}).get("requested_day"),
        draft_id=None,
    )
    if previous and not match.items and previous.get("delivery_date") != draft["delivery_date"]:
        draft["day_note"] = (
            f"The delivery day is now {draft['delivery_date']:%A %-d %b} because the "
            f"{settings.order_cutoff:%-I:%M %p} cutoff has passed."
        )
    if draft["status"] == "awaiting_confirmation":
        outlet = ctx.repository.outlet(state["customer_id"])
        draft["anomalies"] = anomaly_reasons(
            draft["subtotal"],
            outlet["usual_order_value"],
            ctx.repository.has_orders(state["customer_id"]),
            settings.anomaly_usual_multiple,
            settings.anomaly_first_order_limit,
            settings.anomaly_any_order_limit,
        )
        if draft["anomalies"]:
            draft["status"] = "held_for_review"
    return {"draft": draft}
