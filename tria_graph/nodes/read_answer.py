"""Read the customer's answer to a draft order waiting for "yes".

The graph routes here at the start of a turn when the conversation's draft awaits
confirmation (see `graph.route_turn`). The answer is one of: yes (place it), no (drop
the draft), change (items or a quantity in the message), or other (a new question:
the draft stays pending and the message is handled as a normal turn).
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.confirmation import interpret_answer
from ..domain.delivery import next_delivery_date
from ..domain.records import Draft
from ..state import State
from .classify import extract_entities


async def read_answer(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    message = state["message"]
    found = extract_entities(message, ctx)
    answer = interpret_answer(message)
    if answer == "other" and (found["products"] or _only_a_quantity(message)):
        answer = "change"
    if answer == "yes" and _delivery_moved(state["draft"], ctx):
        # Confirmed after the cutoff passed: re-draft so the customer sees the new day.
        answer = "change"
    if answer == "other":
        return {"answer": answer}
    return {"answer": answer, "intent": "order_placement", "confidence": 1.0, "entities": found}


def _only_a_quantity(message: str) -> bool:
    words = message.lower().replace(",", "").split()
    return any(w.isdigit() for w in words) and len(words) <= 6


def _delivery_moved(draft: Draft, ctx: Context) -> bool:
    s = ctx.settings
    return next_delivery_date(ctx.now(), s.order_cutoff, s.delivery_days, draft["requested_day"]) != draft["delivery_date"]
