"""The conversation state: one typed object that every node reads and updates.

Fields under "this turn" are reset at the start of every turn (see `new_turn`); the
rest carries across turns. Values are plain dicts, strings, Decimals and dates so the
checkpointer stores them without custom types.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from .domain.intents import Intent


class Entities(TypedDict, total=False):
    order_numbers: list[str]
    outlet_ids: list[str]
    products: list[dict]  # {"sku", "quantity", "text"}
    unknown_items: list[str]
    delivery_day: str | None
    hours_before: float | None


class State(TypedDict, total=False):
    # Across turns. Only the last HISTORY_TURNS turns of messages are kept.
    messages: Annotated[list[AnyMessage], add_messages]
    customer_id: str
    session_id: str
    draft: dict | None  # the order being drafted or awaiting "yes"
    # Facts carried forward once old messages are dropped (see domain/memory.py):
    # {"turns": int, "intents": {intent: count}, "orders": [recent order numbers]}
    summary: dict

    # This turn.
    message: str
    blocked: str | None  # why the guard refused the message
    intent: Intent
    confidence: float
    entities: Entities
    answer: str | None  # "yes" | "no" | "change" | "other" to a pending draft
    passages: list[dict]
    order: dict | None
    order_not_found: str | None  # the number asked for, not on this account
    invoice: dict | None
    invoice_error: str | None
    escalation: dict | None
    reply: str
    sources: list[dict]
    # The language model this turn (all zero / False in the offline mode).
    llm_calls: int
    llm_tokens: int
    degraded: bool  # the model failed or its breaker was open: answered offline


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
