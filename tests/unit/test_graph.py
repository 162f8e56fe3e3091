"""The whole graph on in-memory parts: every turn enters the same way, and the router at
START sends an answer to a waiting draft to read_answer (no state read by the caller)."""

from __future__ import annotations

import asyncio
import inspect

from langchain_core.messages import HumanMessage

from tests.support.runtime import FixedClassifier, fake_context
from tria_graph.graph import NODES, build_graph, timed
from tria_graph.metrics import NODE_LATENCY
from tria_graph.state import new_turn


def send(graph, ctx, message, thread="t-1", customer_id="OUT-001"):
    turn = {**new_turn(message), "messages": [HumanMessage(message)], "customer_id": customer_id, "session_id": thread}
    config = {"configurable": {"thread_id": thread}}
    return asyncio.run(graph.ainvoke(turn, config, context=ctx, durability="exit"))


def test_an_order_is_drafted_then_placed_on_yes():
    graph = build_graph()
    ctx = fake_context(classifier=FixedClassifier("order_placement", 0.99))
    drafted = send(graph, ctx, "200 12 inch pizza boxes")
    assert drafted["draft"]["status"] == "awaiting_confirmation"
    assert "reply \u201cyes\u201d" in drafted["reply"].lower()
    # The classifier would call "yes" an order request too: the router never asks it.
    ctx.classifier = FixedClassifier("greeting", 0.99)
    placed = send(graph, ctx, "yes")
    assert placed["answer"] == "yes" and placed["order"]["number"] == "SO-10001"
    assert placed["draft"] is None, "a placed draft leaves the state"
    assert ctx.orders.placed[0][1]["draft_id"] == drafted["draft"]["draft_id"]
    assert ctx.classifier.texts == [], "the answer was read, not classified"


def test_a_question_while_a_draft_waits_is_answered_and_the_draft_kept():
    graph = build_graph()
    ctx = fake_context(classifier=FixedClassifier("order_placement", 0.99))
    send(graph, ctx, "200 12 inch pizza boxes")
    ctx.classifier = FixedClassifier("greeting", 0.99)
    state = send(graph, ctx, "hello")
    assert state["answer"] == "other" and state["intent"] == "greeting"
    assert state["draft"]["status"] == "awaiting_confirmation"
    assert "still waiting" in state["reply"]
    assert send(graph, ctx, "no")["draft"] is None
    assert ctx.orders.placed == []


def test_every_node_is_a_coroutine_and_timed_keeps_it_one():
    assert all(inspect.iscoroutinefunction(node) for node in NODES)

    async def sample(state):
        return {"reply": "x"}

    wrapped = timed(sample)
    assert inspect.iscoroutinefunction(wrapped)
    before = NODE_LATENCY.labels("sample")._sum.get()
    assert asyncio.run(wrapped({})) == {"reply": "x"}
    assert NODE_LATENCY.labels("sample")._sum.get() > before

    def plain(state):
        return {"reply": "y"}

    assert timed(plain)({}) == {"reply": "y"}
