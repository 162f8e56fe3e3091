"""The node-test stand-ins (tests/support/runtime.py) behave like the parts they replace."""

from __future__ import annotations

from tests.support.runtime import FakeRuntime, FixedClassifier, StaticPolicyKB, fake_context, passage
from tria_graph.demo_data import DEMO_NOW


def test_fake_context_has_the_catalogue_the_demo_clock_and_the_stand_ins():
    kb = StaticPolicyKB([passage("Delivery Policy", "Delivery Days", "We deliver on Tuesday.")])
    runtime = FakeRuntime(fake_context(classifier=FixedClassifier("order_status", 0.9), policy_kb=kb))
    ctx = runtime.context
    assert ctx.now() == DEMO_NOW
    assert ctx.classifier.predict("where is my order") == ("order_status", 0.9)
    assert ctx.policy_kb.search("delivery days", k=4)[0]["section"] == "Delivery Days"
    assert kb.queries == ["delivery days"]
    match = ctx.catalog.match("200 12 inch pizza boxes and 3 gold forks")
    assert [(i.sku, i.quantity) for i in match.items] == [("PB-12", 200)]
    assert match.unknown
