"""The graph's routers (tria_graph/graph.py): which node a turn goes to next, from the state."""

from __future__ import annotations

import pytest

from tria_graph.graph import after_answer, after_classify, after_draft, after_guard, after_lookup, route_turn


def test_a_blocked_message_goes_straight_to_the_reply():
    assert after_guard({"blocked": "other_customer"}) == "respond"
    assert after_guard({"blocked": None}) == "classify"
    assert after_guard({}) == "classify"


@pytest.mark.parametrize(
    "intent, node",
    [
        ("policy_question", "retrieve_policy"),
        ("product_inquiry", "retrieve_policy"),
        ("order_status", "lookup_order"),
        ("invoice_request", "lookup_order"),
        ("order_placement", "draft_order"),
        ("complaint", "escalate"),
        ("greeting", "respond"),
        ("out_of_scope", "respond"),
    ],
)
def test_each_intent_has_its_path(intent, node):
    assert after_classify({"intent": intent}) == node


def test_an_invoice_is_made_only_for_an_order_that_was_found():
    order = {"number": "SO-10001"}
    assert after_lookup({"intent": "invoice_request", "order": order}) == "create_invoice"
    assert after_lookup({"intent": "invoice_request", "order": order, "order_not_found": "SO-99999"}) == "respond"
    assert after_lookup({"intent": "invoice_request", "order": None}) == "respond"
    assert after_lookup({"intent": "order_status", "order": order}) == "respond"


def test_a_draft_held_for_review_is_escalated():
    assert after_draft({"draft": {"status": "held_for_review"}}) == "escalate"
    assert after_draft({"draft": {"status": "awaiting_confirmation"}}) == "respond"
    assert after_draft({"draft": {"status": "needs_changes"}}) == "respond"


def test_a_turn_starts_at_the_answer_only_when_a_draft_awaits_yes():
    assert route_turn({"draft": {"status": "awaiting_confirmation"}}) == "read_answer"
    for draft in (None, {"status": "needs_changes"}, {"status": "placed"}, {"status": "cancelled"}):
        assert route_turn({"draft": draft}) == "guard"
    assert route_turn({}) == "guard"


@pytest.mark.parametrize(
    "answer, node",
    [("yes", "place_order"), ("no", "cancel_draft"), ("change", "draft_order"), ("other", "guard")],
)
def test_the_answer_to_a_pending_draft(answer, node):
    assert after_answer({"answer": answer}) == node
