"""Domain rules that moved out of adapters, and the words replies.py writes for codes.

Pure functions: no database, no model."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tria_graph import replies
from tria_graph.config import Settings
from tria_graph.domain.anomalies import anomalies
from tria_graph.domain.escalation import LEVELS, NewEscalation, escalation_reference
from tria_graph.domain.orders import CANCELLABLE, order_number, stock_after, totals

SGT = ZoneInfo("Asia/Singapore")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(VAR_DIR=str(tmp_path))


def test_order_and_escalation_numbers():
    assert order_number(42) == "SO-10042"
    assert escalation_reference(7) == "ESC-00007"


def test_stock_never_goes_below_zero():
    assert stock_after(500, 200) == 300
    assert stock_after(100, 100) == 0
    assert stock_after(50, 200) == 0


def test_only_confirmed_orders_can_be_cancelled():
    assert CANCELLABLE == ("confirmed",)


def test_totals_round_gst_half_up():
    assert totals([Decimal("0.05")], 0.09) == {"subtotal": Decimal("0.05"), "gst": Decimal("0.00"), "total": Decimal("0.05")}
    assert totals([Decimal("50.00")], 0.09)["gst"] == Decimal("4.50")


def test_new_escalation_is_due_after_its_level_response_time():
    created = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)
    new = NewEscalation("OUT-001", "s", "L4", "complaint", "r", "m", {}, created)
    assert new.due_at == created + timedelta(minutes=30)


@pytest.mark.parametrize("level, text", [("L1", "4 hours"), ("L2", "2 hours"), ("L3", "1 hour"), ("L4", "30 minutes")])
def test_response_time_words(level, text):
    assert replies.response_time(LEVELS[level]) == text


def test_anomaly_words_name_the_values_and_limits():
    found = anomalies(Decimal("6000"), Decimal("400"), False, 2.0, 1000, 5000)
    words = replies.anomaly_reasons(found)
    assert words[0] == "the order value SGD 6,000.00 is over SGD 5,000.00"
    assert words[1] == "a first order of SGD 6,000.00 is over SGD 1,000.00"
    assert "more than 200% of your usual order value of SGD 400.00" in words[2]


def _problem(kind, quantity=10, stock=0):
    return {"kind": kind, "sku": "PB-12", "name": "12 inch pizza box", "unit": "piece",
            "quantity": quantity, "minimum": 50, "stock": stock}


def test_problem_words():
    assert replies.problem_text(_problem("no_quantity", None)) == "How many 12 inch pizza box would you like?"
    assert "minimum order is 50 pieces (you asked for 10)" in replies.problem_text(_problem("below_minimum"))
    assert "only 30 in stock" in replies.problem_text(_problem("short_stock", 100, 30))
    assert replies.problem_text(_problem("out_of_stock")).endswith("is out of stock.")


def _draft(**overrides):
    draft = {
        "draft_id": "d", "status": "awaiting_confirmation", "unknown": [], "problems": [], "anomalies": [],
        "lines": [{"sku": "PB-12", "name": "12 inch pizza box", "unit": "piece", "quantity": 200,
                   "unit_price": Decimal("0.65"), "line_total": Decimal("130.00")}],
        "subtotal": Decimal("130.00"), "gst": Decimal("11.70"), "total": Decimal("141.70"),
        "tax_rate": Decimal("0.09"), "delivery_date": date(2026, 11, 24), "requested_day": None, "day_note": None,
    }
    return {**draft, **overrides}


def test_draft_summary_quotes_the_settings_window_and_rate(settings):
    text = replies.draft_reply(_draft(), settings, None)
    assert "GST 9%: SGD 11.70" in text
    assert "Tuesday 24 Nov 2026, 9:00 AM to 1:00 PM" in text
    later = settings.model_copy(update={"delivery_window_end": time(12, 30)})
    assert "9:00 AM to 12:30 PM" in replies.draft_reply(_draft(), later, None)


def test_day_notes(settings):
    assert "don't deliver on Wednesday; we deliver on Tuesday, Thursday and Saturday" in replies.draft_reply(
        _draft(day_note="not_a_delivery_day", requested_day="Wednesday"), settings, None
    )
    assert "because the 2:00 PM cutoff has passed" in replies.draft_reply(_draft(day_note="cutoff_passed"), settings, None)


def test_invoice_words_use_the_payment_terms():
    invoice = {"number": "INV-2026-00001", "order_number": "SO-10001", "issued_on": date(2026, 11, 23),
               "due_on": date(2027, 1, 7), "subtotal": Decimal("1"), "gst": Decimal("0.09"), "total": Decimal("1.09"),
               "status": "local", "xero_invoice_id": None, "lines": []}
    assert replies.invoice_text(invoice, 45).endswith("due 7 Jan 2027 (Net 45).")


@pytest.mark.parametrize(
    "problem, status, expected",
    [
        ("order_not_found", "confirmed", "couldn't find order SO-10001"),
        ("not_invoiceable", "pending", "is pending, so it has no invoice yet"),
        ("not_invoiceable", "cancelled", "is cancelled, so it has no invoice."),
        ("rejected", "confirmed", "our billing team has been alerted"),
        ("withdrawn", "cancelled", "its invoice was withdrawn"),
        ("pending", "confirmed", "is on its way from our accounts system"),
        (None, "confirmed", "couldn't get that invoice right now"),
    ],
)
def test_invoice_problem_words(problem, status, expected):
    order = {"number": "SO-10001", "status": status}
    assert expected in replies.invoice_problem(problem, order)
