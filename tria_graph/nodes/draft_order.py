"""Turn the customer's items into a priced draft, or update the pending draft."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.anomalies import anomalies
from ..domain.catalog import MatchResult, RequestedItem
from ..domain.orders import build_draft, draft_quantities, requested_quantities
from ..state import State


async def draft_order(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    settings = ctx.settings
    found = state.get("entities", {})
    match = MatchResult(
        items=[RequestedItem(**item) for item in found.get("products", [])],
        unknown=found.get("unknown_items", []),
    )
    previous = state.get("draft")
    quantities = requested_quantities(match, state["message"], draft_quantities(previous))
    products = await asyncio.to_thread(ctx.orders.products)
    draft = build_draft(
        quantities,
        match.unknown,
        {p.sku: p for p in products},
        tax_rate=settings.tax_rate,
        placed_at=ctx.now(),
        cutoff=settings.order_cutoff,
        delivery_days=settings.delivery_days,
        requested_day=found.get("delivery_day") or (previous["requested_day"] if previous else None),
    )
    if previous and not match.items and previous["delivery_date"] != draft["delivery_date"]:
        draft["day_note"] = "cutoff_passed"
    if draft["status"] == "awaiting_confirmation":
        customer_id = state["customer_id"]
        outlet, has_orders = await asyncio.gather(
            asyncio.to_thread(ctx.orders.outlet, customer_id),
            asyncio.to_thread(ctx.orders.has_orders, customer_id),
        )
        draft["anomalies"] = anomalies(
            draft["subtotal"],
            outlet["usual_order_value"],
            has_orders,
            settings.anomaly_usual_multiple,
            settings.anomaly_first_order_limit,
            settings.anomaly_any_order_limit,
        )
        if draft["anomalies"]:
            draft["status"] = "held_for_review"
    return {"draft": draft}
