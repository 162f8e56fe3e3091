"""Write the confirmed draft as an order (idempotent on the draft id)."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from ..context import Context
from ..state import State


async def place_order(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    draft = state["draft"]
    order = await asyncio.to_thread(ctx.orders.place_order, state["customer_id"], draft, ctx.now())
    return {"order": order, "draft": {**draft, "status": "placed", "order_number": order["number"]}}
