"""Pause the graph until the customer answers the order summary.

`interrupt()` ends the turn here; the customer's next message resumes this node
from its start, so nothing before the interrupt may have side effects. The answer
is one of: yes (place it), no (drop the draft), change (items in the message),
or other (a new question: the draft stays pending and the message is handled
as a normal turn).
"""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from ..context import Context
from ..domain.confirmation import interpret_answer
from ..domain.delivery import next_delivery_date
from ..state import State, new_turn
from .classify import extract_entities


def await_confirmation(state: State, runtime: Runtime[Context]) -> dict:
    draft = state["draft"]
    message: str = interrupt({"draft_id": draft["draft_id"], "summary": state.get("reply", "")})
    ctx = runtime.context
    found = extract_entities(message, ctx)
    answer = interpret_answer(message)
    if answer == "other" and (found["products"] or _only_a_quantity(message)):
        answer = "change"
    if answer == "yes" and _delivery_moved(draft, ctx):
        # Confirmed after the cutoff passed: re-draft so the customer sees the new day.
        answer = "change"
    update = {**new_turn(message), "messages": [HumanMessage(message)], "answer": answer}
    if answer != "other":
        update.update(intent="order_placement", confidence=1.0, entities=found)
    return update


def _only_a_quantity(message: str) -> bool:
    words = message.lower().replace(",", "").split()
    return any(w.isdigit() for w in words) and len(words) <= 6


def _delivery_moved(draft: dict, ctx: Context) -> bool:
    s = ctx.settings
    return (
        next_delivery_date(ctx.now(), s.order_cutoff, s.delivery_days, draft.get("requested_day"))
        != draft["delivery_date"]
    )
