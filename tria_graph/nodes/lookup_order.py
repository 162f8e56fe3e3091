"""Find the customer's order: by the number in the message, else the latest one.

Only the session's customer is ever searched, whatever the message claims.
"""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from ..context import Context
from ..state import State


async def lookup_order(state: State, runtime: Runtime[Context]) -> dict:
    orders = runtime.context.orders
    customer_id = state["customer_id"]
    numbers = state.get("entities", {}).get("order_numbers") or []
    if numbers:
        order = await asyncio.to_thread(orders.order, customer_id, numbers[0])
        if order is None:
            return {"order": None, "order_not_found": numbers[0]}
        return {"order": order, "order_not_found": None}
    return {"order": await asyncio.to_thread(orders.latest_order, customer_id)}
