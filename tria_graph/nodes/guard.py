"""Guardrail: refuse messages that try to steer the bot or reach other outlets.

Lookups are already scoped to the session's customer, so another outlet's data can
never be returned; this node makes the refusal explicit and keeps such messages away
from the rest of the graph (and, later, from any language model).
"""

from __future__ import annotations

import re

from langgraph.runtime import Runtime

from ..context import Context
from ..domain.entities import outlet_ids
from ..state import State

_INJECTION = re.compile(
    r"ignore (all |any |the )?(previous|prior|above|earlier|your) (instructions|rules|prompts?)|"
    r"disregard (all |the |your )?(previous |prior )?(instructions|rules)|"
    r"(reveal|show|print|repeat|tell me) (me )?(your|the) (system )?(prompt|instructions)|"
    r"system prompt|you are now|act as (an? )?(admin|administrator|developer|dan)|"
    r"developer mode|jailbreak|\bDAN\b|pretend (you are|to be)|sudo |admin mode|"
    r"override (your|the) (rules|instructions|policy)",
    re.I,
)
_ALL_CUSTOMERS = re.compile(
    r"\b(all|every|other|another|each)\b.{0,30}\b(customers?|outlets?|clients?|restaurants?|shops?)\b"
    r".{0,40}\b(orders?|invoices?|details|contacts?|data|phone|emails?|address(es)?)\b|"
    r"\b(orders?|invoices?|details|contacts?|data)\b.{0,30}\b(of|for|from) (all|every|other|another)\b"
    r".{0,20}\b(customers?|outlets?|clients?|restaurants?|shops?)\b",
    re.I,
)


async def guard(state: State, runtime: Runtime[Context]) -> dict:
    message = state["message"]
    if _INJECTION.search(message):
        return {"blocked": "instructions"}
    others = [o for o in outlet_ids(message) if o != state["customer_id"]]
    if others or _ALL_CUSTOMERS.search(message):
        return {"blocked": "other_customer"}
    return {"blocked": None}
