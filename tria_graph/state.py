"""The conversation state: one typed object that every node reads and updates.

Fields under "this turn" are reset at the start of every turn (see `new_turn`); the
rest carries across turns. Records are the TypedDicts of domain/records.py (plain dicts
of strings, Decimals and dates), so the checkpointer stores them without custom types.
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from .domain.intents import Intent
from .domain.memory import Summary
from .domain.records import Answer, Draft, Escalation, Invoice, InvoiceProblem, Order, Source


class Entities(TypedDict, total=False):
    order_numbers: list[str]
    outlet_ids: list[str]
    products: list[dict]  # {"sku", "quantity", "text"} (domain.catalog.RequestedItem)
    unknown_items: list[str]
    delivery_day: str | None
    hours_before: float | None


class State(TypedDict, total=False):
    # Across turns. Only the last HISTORY_TURNS turns of messages are kept.
    messages: Annotated[list[AnyMessage], add_messages]
    customer_id: str
    session_id: str
    draft: Draft | None  # the order being drafted or awaiting "yes"
    summary: Summary  # facts carried forward once old messages are dropped

    # This turn.
    message: str
    blocked: str | None  # why the guard refused the message
    intent: Intent
    confidence: float
    entities: Entities
    answer: Answer | None  # to a pending draft
    passages: list[dict]  # retrieved this turn; emptied when the turn ends
    order: Order | None
    order_not_found: str | None  # the number asked for, not on this account
    invoice: Invoice | None
    invoice_error: InvoiceProblem | None
    escalation: Escalation | None
    reply: str
    sources: list[Source]
    # The language model this turn (all zero / False in the offline mode).
    llm_calls: int
    llm_tokens: int
    degraded: bool  # the model failed or its breaker was open: answered offline


# Every "this turn" field and the value a turn starts with.
TURN_FIELDS: dict[str, Any] = {
    "blocked": None,
    "intent": "out_of_scope",
    "confidence": 0.0,
    "entities": {},
    "answer": None,
    "passages": [],
    "order": None,
    "order_not_found": None,
    "invoice": None,
    "invoice_error": None,
    "escalation": None,
    "reply": "",
    "sources": [],
    "llm_calls": 0,
    "llm_tokens": 0,
    "degraded": False,
}


def new_turn(message: str) -> dict[str, Any]:
    """The update that starts a turn: this message, every per-turn field cleared."""
    return {**TURN_FIELDS, "message": message}
