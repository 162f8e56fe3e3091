"""The conversation graph: wiring only. Each node lives in `nodes/`.

Every turn enters at START with the customer's message; `route_turn` sends it to
read_answer when a draft order waits for "yes", else to the guard.

    START -+- draft awaiting "yes" -> read_answer -+- yes: place_order -> create_invoice -> respond
           |                                       +- no: cancel_draft -> respond
           |                                       +- change: draft_order
           |                                       +- other: guard
           +- otherwise -> guard -> classify -+- policy_question / product_inquiry -> retrieve_policy -> respond
                                              +- order_status / invoice_request -> lookup_order -> (create_invoice) -> respond
                                              +- order_placement -> draft_order -> respond | escalate (held for review)
                                              +- complaint -> escalate -> respond
                                              +- greeting / out_of_scope -> respond
    respond -> remember (trim history, update summary) -> END

A draft waiting for "yes" ends its turn like any other; it stays in the state, so the
next turn (on any replica, after any restart) is routed to read_answer.

With a language model in the context (LLM mode, docs/llm.md) the graph is the same:
classify makes one structured-output call when the offline classifier is unsure, and
respond makes one call to reword its template reply, keeping the template if the call
fails (the turn is "degraded") or the reply states a number the facts do not hold.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from .context import Context
from .metrics import NODE_LATENCY
from .nodes.classify import classify
from .nodes.create_invoice import create_invoice
from .nodes.draft_order import draft_order
from .nodes.escalate import escalate
from .nodes.guard import guard
from .nodes.lookup_order import lookup_order
from .nodes.place_order import place_order
from .nodes.read_answer import read_answer
from .nodes.remember import remember
from .nodes.respond import respond
from .nodes.retrieve_policy import retrieve_policy
from .state import State


def route_turn(state: State) -> Literal["read_answer", "guard"]:
    draft = state.get("draft")
    return "read_answer" if draft and draft["status"] == "awaiting_confirmation" else "guard"


def after_answer(state: State) -> Literal["place_order", "cancel_draft", "draft_order", "guard"]:
    return {"yes": "place_order", "no": "cancel_draft", "change": "draft_order"}.get(state["answer"], "guard")


def after_guard(state: State) -> Literal["classify", "respond"]:
    return "respond" if state.get("blocked") else "classify"


def after_classify(
    state: State,
) -> Literal["retrieve_policy", "lookup_order", "draft_order", "escalate", "respond"]:
    intent = state["intent"]
    if intent in ("policy_question", "product_inquiry"):
        return "retrieve_policy"
    if intent in ("order_status", "invoice_request"):
        return "lookup_order"
    if intent == "order_placement":
        return "draft_order"
    if intent == "complaint":
        return "escalate"
    return "respond"


def after_lookup(state: State) -> Literal["create_invoice", "respond"]:
    if state["intent"] == "invoice_request" and state.get("order") and not state.get("order_not_found"):
        return "create_invoice"
    return "respond"


def after_draft(state: State) -> Literal["escalate", "respond"]:
    return "escalate" if state["draft"]["status"] == "held_for_review" else "respond"


async def cancel_draft(state: State) -> dict:
    """'no' to a pending draft: mark it cancelled (nothing was written)."""
    return {"draft": {**state["draft"], "status": "cancelled"}}


def timed(node: Callable) -> Callable:
    """The node, recording its run time in tria_node_duration_seconds{node=...}.

    Works for plain and `async def` nodes alike; functools.wraps keeps the signature
    LangGraph reads to pass `runtime`, and the coroutine-ness it reads to await it.
    """
    histogram = NODE_LATENCY.labels(node.__name__)
    if inspect.iscoroutinefunction(node):

        @functools.wraps(node)
        async def run_async(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await node(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return run_async

    @functools.wraps(node)
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return node(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)

    return run


NODES = (
    read_answer, guard, classify, retrieve_policy, lookup_order, draft_order,
    cancel_draft, place_order, create_invoice, escalate, respond, remember,
)


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """The compiled conversation graph. Invoke it with `context=Context(...)`.

    Without a checkpointer it keeps conversations in memory; the server passes the
    SQLite (embedded) or Postgres saver so every turn survives a restart.
    """
    g = StateGraph(State, context_schema=Context)
    for node in NODES:
        g.add_node(node.__name__, timed(node))

    g.add_conditional_edges(START, route_turn)
    g.add_conditional_edges("read_answer", after_answer)
    g.add_conditional_edges("guard", after_guard)
    g.add_conditional_edges("classify", after_classify)
    g.add_edge("retrieve_policy", "respond")
    g.add_conditional_edges("lookup_order", after_lookup)
    g.add_conditional_edges("draft_order", after_draft)
    g.add_edge("escalate", "respond")
    g.add_edge("cancel_draft", "respond")
    g.add_edge("place_order", "create_invoice")
    g.add_edge("create_invoice", "respond")
    g.add_edge("respond", "remember")
    g.add_edge("remember", END)
    return g.compile(checkpointer=checkpointer if checkpointer is not None else InMemorySaver())
