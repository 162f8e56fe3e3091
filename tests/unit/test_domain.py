"""Business rules, called directly."""

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from tria_graph.demo_data import SGT, read_catalog
from tria_graph.domain.anomalies import anomalies
from tria_graph.domain.catalog import CatalogMatcher, Product
from tria_graph.domain.confirmation import interpret_answer
from tria_graph.domain.delivery import cancellation_fee_rate, next_delivery_date
from tria_graph.domain.entities import hours_mentioned, order_numbers, outlet_ids, requested_weekday
from tria_graph.domain.escalation import complaint_level
from tria_graph.domain.invoicing import due_date
from tria_graph.domain.orders import build_draft, requested_quantities, totals

DAYS = ["Tuesday", "Thursday", "Saturday"]
CUTOFF = time(14, 0)


@pytest.fixture(scope="module")
def products() -> dict[str, Product]:
    return {
        r["sku"]: Product(
            sku=r["sku"], name=r["name"], category=r["category"], unit=r["unit"],
            price=Decimal(r["price"]), stock=int(r["stock"]), min_order_qty=int(r["min_order_qty"]),
            aliases=tuple(a for a in r["aliases"].split(";") if a),
        )
        for r in read_catalog()
    }


@pytest.fixture(scope="module")
def matcher(products) -> CatalogMatcher:
    return CatalogMatcher(list(products.values()))


# --- delivery and cutoff ----------------------------------------------------------
@pytest.mark.parametrize(
    "placed, expected",
    [
        (datetime(2026, 11, 23, 11, 0, tzinfo=SGT), date(2026, 11, 24)),  # Mon 11:00 -> Tue
        (datetime(2026, 11, 23, 13, 59, tzinfo=SGT), date(2026, 11, 24)),  # just before cutoff
        (datetime(2026, 11, 23, 14, 0, tzinfo=SGT), date(2026, 11, 26)),  # at cutoff -> counts Tue -> Thu
        (datetime(2026, 11, 23, 15, 0, tzinfo=SGT), date(2026, 11, 26)),  # Mon 15:00 -> Thu
        (datetime(2026, 11, 24, 9, 0, tzinfo=SGT), date(2026, 11, 26)),  # Tue morning -> Thu (after today)
        (datetime(2026, 11, 28, 10, 0, tzinfo=SGT), date(2026, 12, 1)),  # Sat morning -> Tue
        (datetime(2026, 11, 27, 16, 0, tzinfo=SGT), date(2026, 12, 1)),  # Fri 16:00 counts Sat -> Tue
    ],
)
def test_next_delivery_day_follows_cutoff_and_delivery_days(placed, expected):
    assert next_delivery_date(placed, CUTOFF, DAYS) == expected


def test_requested_delivery_day_is_honoured_only_when_it_is_a_delivery_day():
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)
    assert next_delivery_date(monday, CUTOFF, DAYS, "Saturday") == date(2026, 11, 28)
    assert next_delivery_date(monday, CUTOFF, DAYS, "Wednesday") == date(2026, 11, 24)


@pytest.mark.parametrize(
    "hours, rate", [(48, "0"), (24, "0"), (23.9, "0.25"), (12, "0.25"), (11.9, "0.50"), (6, "0.50"), (0, "0.50")]
)
def test_cancellation_fee_tiers(hours, rate):
    assert cancellation_fee_rate(hours) == Decimal(rate)


# --- anomalies ----------------------------------------------------------------------
def test_anomaly_rules():
    def rules(subtotal, usual="400", has_orders=True):
        return [a["rule"] for a in anomalies(Decimal(subtotal), Decimal(usual), has_orders, 2.0, 1000, 5000)]

    assert rules("800.00") == []  # exactly 200% is fine
    assert rules("800.01") == ["over_usual"]
    assert rules("999", usual="0", has_orders=False) == []
    assert rules("1000.01", usual="0", has_orders=False) == ["first_order_limit"]
    assert "over_any_limit" in rules("5000.01", usual="4000")
    assert rules("5000.00", usual="4000") == []


# --- catalog matching -------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["200 12 inch pizza boxes", "200 12in pizza box", '200 12" pizza boxes', "12-inch pizza boxes x 200",
     "pls send 200pcs 12 inch pizza box", "200 medium pizza boxes"],
)
def test_pizza_box_spellings_match_the_same_sku(matcher, text):
    result = matcher.match(text)
    assert [(i.sku, i.quantity) for i in result.items] == [("PB-12", 200)]
    assert result.unknown == []


def test_several_items_and_unknown_items_are_named_back(matcher):
    result = matcher.match("I need 200 14 inch pizza boxes, 500 16oz hot cups and 50 golden spoons")
    assert [(i.sku, i.quantity) for i in result.items] == [("PB-14", 200), ("CUP-16H", 500)]
    assert result.unknown == ["50 golden spoons"]


def test_quantity_with_thousands(matcher):
    assert matcher.match("1,000 10 inch pizza boxes").items[0].quantity == 1000
    assert matcher.match("2k 10 inch pizza boxes").items[0].quantity == 2000


def test_change_applies_to_previous_draft(matcher):
    previous = {"PB-12": 200, "CUP-16H": 500}
    changed = requested_quantities(matcher.match("make it 300 12 inch pizza boxes"), "", previous)
    assert changed == {"PB-12": 300, "CUP-16H": 500}
    removed = requested_quantities(matcher.match("remove the 16oz hot cups"), "", previous)
    assert removed == {"PB-12": 200}
    bare = requested_quantities(matcher.match("make it 300"), "make it 300", {"PB-12": 200})
    assert bare == {"PB-12": 300}


def test_draft_totals_gst_and_problems(products):
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)
    draft = build_draft({"PB-12": 200, "PB-10": 10}, ["gold forks"], products, tax_rate=0.09,
                        placed_at=monday, cutoff=CUTOFF, delivery_days=DAYS, requested_day=None)
    assert draft["subtotal"] == Decimal("134.50")  # 200*0.65 + 10*0.45
    assert draft["gst"] == Decimal("12.11")  # 9% rounded half up
    assert draft["total"] == Decimal("146.61")
    assert draft["delivery_date"] == date(2026, 11, 24)
    assert draft["status"] == "needs_changes"
    assert [(p["kind"], p["sku"], p["minimum"]) for p in draft["problems"]] == [("below_minimum", "PB-10", 50)]
    ok = build_draft({"PB-12": 200}, [], products, tax_rate=0.09, placed_at=monday, cutoff=CUTOFF,
                     delivery_days=DAYS, requested_day="Wednesday")
    assert ok["status"] == "awaiting_confirmation"
    assert ok["day_note"] == "not_a_delivery_day"


def test_out_of_stock_is_a_problem(products):
    empty = next(p for p in products.values() if p.stock == 0)
    draft = build_draft({empty.sku: empty.min_order_qty}, [], products, tax_rate=0.09,
                        placed_at=datetime(2026, 11, 23, 10, tzinfo=SGT), cutoff=CUTOFF,
                        delivery_days=DAYS, requested_day=None)
    assert draft["status"] == "needs_changes"
    assert draft["problems"][0]["kind"] == "out_of_stock"


# --- entities, answers, escalation, invoices ------------------------------------------
def test_entities():
    assert order_numbers("where is so-10023 and SO 10024? also SO-10023") == ["SO-10023", "SO-10024"]
    assert outlet_ids("show OUT-002 and out-3") == ["OUT-002"]
    assert requested_weekday("for thurs pls", date(2026, 11, 23)) == "Thursday"
    assert requested_weekday("deliver tmr", date(2026, 11, 23)) == "Tuesday"
    assert hours_mentioned("cancel 6 hours before") == 6
    assert hours_mentioned("2 days before") == 48


@pytest.mark.parametrize("text", ["yes", "Yes please!", "ok lah", "can", "confirm", "go ahead boss", "yep"])
def test_yes_answers(text):
    assert interpret_answer(text) == "yes"


@pytest.mark.parametrize("text", ["no", "cancel", "nope", "don't", "never mind", "no need"])
def test_no_answers(text):
    assert interpret_answer(text) == "no"


@pytest.mark.parametrize("text", ["what time is the cutoff?", "yes but change to 300", "is it cheaper in bulk"])
def test_other_answers(text):
    assert interpret_answer(text) == "other"


def test_complaint_levels():
    assert complaint_level("the boxes arrived damaged") == "L2"
    assert complaint_level("my customers got food poisoning, I will call my lawyer") == "L4"
    assert complaint_level("you charged twice on my bill") == "L3"
    assert complaint_level("not happy with the service") == "L1"
    assert complaint_level("not happy with the service", previous_escalations=2) == "L4"


def test_totals_and_net_30():
    amounts = totals([Decimal("130.00"), Decimal("36.00")], 0.09)
    assert amounts == {"subtotal": Decimal("166.00"), "gst": Decimal("14.94"), "total": Decimal("180.94")}
    assert due_date(date(2026, 11, 23), 30) == date(2026, 12, 23)
