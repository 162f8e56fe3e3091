"""The grounding check of LLM replies: every number in a reply must come from the facts
(or the customer's own message)."""

from __future__ import annotations

import pytest

from tria_graph.domain import grounding


@pytest.mark.parametrize(
    "reply, facts, unsupported",
    [
        ("Total SGD 141.70 incl. GST, order SO-10301.", "total 141.7, SO-10301", []),
        ("That costs SGD 1,250.00.", "subtotal 1250", []),
        ("Delivery on Thursday 26 Nov 2026.", "delivery_date 2026-11-26", []),
        ("A box is SGD 0.19.", "PB-12 costs SGD 0.85", ["0.19"]),
        ("Cancel free up to 48 hours before.", "24 hours or more: free", ["48"]),
        ("1. Call us\n2. Email us", "", []),  # list numbering is not a fact
    ],
)
def test_grounding_check(reply, facts, unsupported):
    assert grounding.unsupported_numbers(reply, facts) == unsupported


def test_grounding_allows_numbers_from_the_customers_message():
    assert grounding.unsupported_numbers("Sure, 300 cups.", "cups 0.12", "need 300 cups") == []
