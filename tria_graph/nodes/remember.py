"""Close the turn's memory: forget messages beyond the kept turns, update the summary,
and drop this turn's retrieved passages (the reply and its sources keep what was used),
so the checkpoint written at the end of the turn stays small."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.memory import carry_forward, messages_to_forget
from ..state import State


async def remember(state: State, runtime: Runtime[Context]) -> dict:
    numbers = list(state.get("entities", {}).get("order_numbers") or [])
    order = state.get("order")
    if order and order["number"] not in numbers:
        numbers.append(order["number"])
    return {
        "messages": messages_to_forget(state.get("messages", []), runtime.context.settings.history_turns),
        "summary": carry_forward(state.get("summary"), state.get("intent", "out_of_scope"), numbers),
        "passages": [],
    }
