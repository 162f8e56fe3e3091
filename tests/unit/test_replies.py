"""The template replies (tria_graph/replies.py) from plain values: each names the right
number, fee, day and source. Only the facts are checked, not the wording."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.support.runtime import passage, products, unit_settings
from tria_graph import replies
from tria_graph.demo_data import DEMO_NOW, SGT
from tria_graph.domain.orders import build_draft

SETTINGS = unit_settings()
CANCELLATION = passage(
    "Cancellation Policy", "Cancellation Fees",
    "Cancelling less than 12 hours before delivery costs 50% of the order value.",
)
CANCELLATION_RULE = passage(
    "Cancellation Policy", "Cancellation Fees", "Cancelling 24 hours or more before delivery is free.", 0.8
)
DELIVERY = passage("Delivery Policy", "Delivery Days", "We deliver on Tuesday, Thursday and Saturday.")


def draft(quantities: dict, unknown: list[str] | None = None, requested_day: str | None = None) -> dict:
    return build_draft(
        quantities, unknown or [], {p.sku: p for p in products()}, tax_rate=SETTINGS.tax_rate,
        placed_at=DEMO_NOW, cutoff=SETTINGS.order_cutoff, delivery_days=SETTINGS.delivery_days,
        requested_day=requested_day,
    )


# --- greeting, refusal, out of scope ---------------------------------------------------


def test_greeting_uses_the_contacts_first_name():
    assert replies.greeting("hello", "Marco Rossi").startswith("Hi Marco!")
    assert replies.greeting("hello", None).startswith("Hi!")


def test_thanks_and_goodbye_are_answered_as_such():
    assert "welcome" in replies.greeting("thanks a lot", "Marco Rossi")
    assert "Goodbye" in replies.greeting("ok bye", "Marco Rossi")


def test_out_of_scope_says_what_the_bot_can_do():
    reply = replies.out_of_scope()
    assert replies.CAPABILITIES in reply
    assert "customer service" in reply


def test_refusals_name_their_reason():
    assert "other outlets" in replies.refusal("other_customer")
    injection = replies.refusal("injection")
    assert "instructions" in injection and "other outlets" not in injection


# --- policies ----------------------------------------------------------------------------


def test_no_passage_means_no_guess_and_no_source():
    reply, sources = replies.policy_answer("can I pay in bitcoin?", [], {}, SETTINGS, DEMO_NOW)
    assert "won't guess" in reply
    assert sources == []


@pytest.mark.parametrize("hours, fee", [(6, "50%"), (18, "25%")])
def test_a_cancellation_question_states_the_fee_for_its_hours(hours, fee):
    reply, sources = replies.policy_answer(
        f"what if I cancel {hours} hours before?", [CANCELLATION, CANCELLATION_RULE],
        {"hours_before": hours}, SETTINGS, DEMO_NOW,
    )
    assert f"{hours} hours before delivery costs {fee}" in reply
    assert "Cancellation Policy, \u201cCancellation Fees\u201d" in reply
    assert sources == [{"document": "Cancellation Policy", "section": "Cancellation Fees"}]


def test_cancelling_a_day_ahead_is_free():
    reply, _ = replies.policy_answer(
        "can I cancel 30 hours before?", [CANCELLATION_RULE], {"hours_before": 30}, SETTINGS, DEMO_NOW
    )
    assert "30 hours before delivery is free" in reply


@pytest.mark.parametrize(
    "now, delivery",
    [
        (DEMO_NOW, "Tuesday 24 Nov 2026"),  # Monday 10:00, before the 2 PM cutoff
        (datetime(2026, 11, 23, 15, 0, tzinfo=SGT), "Thursday 26 Nov 2026"),  # after the cutoff
    ],
)
def test_when_will_it_arrive_names_the_next_delivery_day(now, delivery):
    reply, sources = replies.policy_answer("if I order now, when will it arrive?", [DELIVERY], {}, SETTINGS, now)
    assert delivery in reply
    assert "(Source: Delivery Policy, \u201cDelivery Days\u201d.)" in reply
    assert sources == [{"document": "Delivery Policy", "section": "Delivery Days"}]
    assert replies.policy_answer_uses_clock("if I order now, when will it arrive?", {})


def test_the_runner_up_from_the_same_section_is_quoted_once_as_a_source():
    reply, sources = replies.policy_answer("cancellation fees?", [CANCELLATION, CANCELLATION_RULE], {}, SETTINGS, DEMO_NOW)
    assert CANCELLATION["text"] in reply and CANCELLATION_RULE["text"] in reply
    assert sources == [{"document": "Cancellation Policy", "section": "Cancellation Fees"}]


# --- orders and invoices --------------------------------------------------------------------

ORDER = {
    "number": "SO-10042",
    "status": "confirmed",
    "created_at": datetime(2026, 11, 20, 9, 30, tzinfo=SGT),
    "delivery_date": date(2026, 11, 24),
    "lines": [{"quantity": 200, "name": "12-inch pizza box"}],
    "total": Decimal("141.70"),
}


def test_order_status_names_the_order_its_day_items_and_total():
    reply = replies.order_status(ORDER, None)
    assert "SO-10042" in reply
    assert "Tuesday 24 Nov 2026" in reply
    assert "200 \u00d7 12-inch pizza box" in reply
    assert "SGD 141.70" in reply


@pytest.mark.parametrize(
    "status, words", [("delivered", "delivered on"), ("out_for_delivery", "on its way today"), ("pending", "once confirmed")]
)
def test_order_status_follows_the_status(status, words):
    assert words in replies.order_status({**ORDER, "status": status}, None)


def test_an_order_not_found_points_to_the_latest():
    reply = replies.order_status(ORDER, "SO-99999")
    assert "couldn't find order SO-99999" in reply
    assert "latest order is SO-10042" in reply
    assert "latest" not in replies.order_status(None, "SO-99999")


def test_no_orders_yet_invites_a_first_order():
    assert "first order" in replies.order_status(None, None)


def test_invoice_text_has_the_amounts_and_the_net_30_due_date():
    reply = replies.invoice_text({
        "number": "INV-2026-00042", "order_number": "SO-10042", "subtotal": Decimal("130.00"),
        "gst": Decimal("11.70"), "total": Decimal("141.70"), "issued_on": date(2026, 11, 24), "due_on": date(2026, 12, 24),
    }, 30)
    assert "INV-2026-00042" in reply and "SO-10042" in reply
    assert "GST SGD 11.70" in reply and "total SGD 141.70" in reply
    assert "due 24 Dec 2026 (Net 30)" in reply


def test_a_draft_awaiting_yes_shows_totals_gst_and_delivery_day():
    pending = draft({"PB-12": 200})
    assert pending["status"] == "awaiting_confirmation"
    reply = replies.draft_reply(pending, SETTINGS, None)
    assert f"Total: SGD {pending['total']:,.2f}" in reply
    assert "GST 9%" in reply
    assert "Tuesday 24 Nov 2026, 9:00 AM" in reply
    assert "\u201cyes\u201d" in reply


def test_a_draft_asked_for_a_day_without_delivery_says_so():
    reply = replies.draft_reply(draft({"PB-12": 200}, requested_day="Wednesday"), SETTINGS, None)
    assert "don't deliver on Wednesday" in reply


def test_a_draft_with_problems_names_the_unknown_items_and_asks_for_changes():
    reply = replies.draft_reply(draft({"PB-12": 200}, unknown=["gold forks"]), SETTINGS, None)
    assert "\u201cgold forks\u201d" in reply
    assert "update the order" in reply
    assert "\u201cyes\u201d" not in reply  # nothing to confirm yet


def test_an_empty_draft_asks_what_to_order():
    assert "What would you like to order?" in replies.draft_reply(draft({}), SETTINGS, None)


def test_a_held_draft_names_the_reference_team_and_that_nothing_was_ordered():
    over_usual = {"rule": "over_usual", "value": Decimal("4000"), "limit": Decimal("800"),
                  "multiple": 2.0, "usual": Decimal("400")}
    held = {**draft({"PB-12": 200}), "status": "held_for_review", "anomalies": [over_usual]}
    reply = replies.draft_reply(held, SETTINGS, {"reference": "ESC-0007", "level": "L2"})
    assert "ESC-0007" in reply and "account manager" in reply and "level L2" in reply
    assert "more than 200% of your usual order value of SGD 400.00" in reply
    assert "Nothing has been ordered yet" in reply


@pytest.mark.parametrize(
    "level, team, within", [("L1", "customer service team", "4 hours"), ("L3", "operations supervisor", "1 hour")]
)
def test_escalation_reply_names_the_team_reference_and_response_time(level, team, within):
    reply = replies.escalation_reply({"reference": "ESC-0042", "level": level}, "SO-10042")
    assert "ESC-0042" in reply and team in reply and within in reply
    assert "about order SO-10042" in reply
    assert "photos" not in reply


def test_damaged_goods_are_asked_for_photos_within_48_hours():
    reply = replies.escalation_reply({"reference": "ESC-0043", "level": "L2"}, None)
    assert "photos within 48 hours" in reply
    assert "about order" not in reply
