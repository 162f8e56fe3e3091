"""Sanity checks on the shipped data: catalogue, outlets and policy documents.

Standard library only, so these run without the model stack installed.
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parents[2] / "tria_graph" / "data"
CATALOG = DATA_DIR / "catalog.csv"
OUTLETS = DATA_DIR / "outlets.csv"
POLICY_DIR = DATA_DIR / "policies"

CATALOG_COLUMNS = ["sku", "name", "category", "size", "unit", "price", "stock", "min_order_qty", "aliases"]
OUTLET_COLUMNS = [
    "customer_id", "name", "contact_name", "phone", "email", "address",
    "usual_order_value", "usual_order_days",
]
POLICY_FILES = [
    "ordering.md", "delivery.md", "cancellation.md", "payments.md", "returns.md",
    "escalation.md", "large-orders.md", "privacy.md", "products.md",
]
DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, str]]:
    columns, rows = _read_csv(CATALOG)
    assert columns == CATALOG_COLUMNS
    return rows


@pytest.fixture(scope="module")
def outlets() -> list[dict[str, str]]:
    columns, rows = _read_csv(OUTLETS)
    assert columns == OUTLET_COLUMNS
    return rows


@pytest.fixture(scope="module")
def policies() -> dict[str, str]:
    return {name: (POLICY_DIR / name).read_text(encoding="utf-8") for name in POLICY_FILES}


# --- catalogue -------------------------------------------------------------


def test_catalog_has_about_forty_unique_skus(catalog):
    skus = [row["sku"] for row in catalog]
    assert 35 <= len(skus) <= 45
    assert len(set(skus)) == len(skus)
    assert all(re.fullmatch(r"[A-Z]+-[A-Z0-9]+", sku) for sku in skus)


def test_catalog_names_are_unique(catalog):
    names = [row["name"].strip().lower() for row in catalog]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    "sku, name, price",
    [
        ("PB-10", "Pizza Box 10 inch", "0.45"),
        ("PB-12", "Pizza Box 12 inch", "0.65"),
        ("PB-14", "Pizza Box 14 inch", "0.85"),
    ],
)
def test_pizza_boxes(catalog, sku, name, price):
    by_sku = {row["sku"]: row for row in catalog}
    row = by_sku[sku]
    assert row["name"] == name
    assert row["category"] == "pizza_box"
    assert row["unit"] == "piece"
    assert Decimal(row["price"]) == Decimal(price)
    assert int(row["min_order_qty"]) == 50


def test_only_three_pizza_boxes(catalog):
    assert sorted(r["sku"] for r in catalog if r["category"] == "pizza_box") == ["PB-10", "PB-12", "PB-14"]


def test_catalog_numbers_parse_and_are_sane(catalog):
    for row in catalog:
        price = Decimal(row["price"])
        assert Decimal("0") < price <= Decimal("5"), row["sku"]
        assert price == price.quantize(Decimal("0.01")), row["sku"]
        assert int(row["stock"]) >= 0, row["sku"]
        assert int(row["min_order_qty"]) > 0, row["sku"]
        for field in ("name", "category", "size", "unit"):
            assert row[field].strip(), (row["sku"], field)


def test_catalog_exercises_stock_rules(catalog):
    stocks = [int(row["stock"]) for row in catalog]
    assert any(s == 0 for s in stocks), "at least one product should be out of stock"
    assert any(0 < s < 500 for s in stocks), "at least one product should be low on stock"


def test_aliases_do_not_collide(catalog):
    owner: dict[str, str] = {}
    for row in catalog:
        names = [row["name"]] + [a for a in row["aliases"].split(";") if a.strip()]
        assert len(names) > 1, f"{row['sku']} has no aliases"
        for alias in names:
            assert alias == alias.strip(), f"stray whitespace in {alias!r}"
            key = " ".join(alias.lower().split())
            previous = owner.setdefault(key, row["sku"])
            assert previous == row["sku"], f"{alias!r} names both {previous} and {row['sku']}"


# --- outlets ---------------------------------------------------------------


def test_outlet_ids(outlets):
    assert [row["customer_id"] for row in outlets] == [f"OUT-{i:03d}" for i in range(1, 13)]


def test_outlet_usual_values(outlets):
    by_id = {row["customer_id"]: row for row in outlets}
    assert Decimal(by_id["OUT-001"]["usual_order_value"]) == Decimal("400")
    assert by_id["OUT-001"]["usual_order_days"] == "Tuesday;Saturday"
    assert Decimal(by_id["OUT-012"]["usual_order_value"]) == Decimal("0")
    assert by_id["OUT-012"]["usual_order_days"] == ""
    for cid, row in by_id.items():
        if cid in ("OUT-001", "OUT-012"):
            continue
        assert Decimal("150") <= Decimal(row["usual_order_value"]) <= Decimal("1500"), cid


def test_outlet_fields(outlets):
    for row in outlets:
        cid = row["customer_id"]
        assert row["name"].strip() and row["contact_name"].strip() and row["address"].strip(), cid
        assert row["phone"].startswith("+65 "), cid
        assert row["email"].endswith(".example") and "@" in row["email"], cid
        days = [d for d in row["usual_order_days"].split(";") if d]
        assert set(days) <= {"Tuesday", "Thursday", "Saturday"}, cid
    names = [row["name"] for row in outlets]
    assert len(set(names)) == len(names)


# --- policy documents ------------------------------------------------------


def test_policy_files_exist():
    present = {p.name for p in POLICY_DIR.glob("*.md")}
    assert set(POLICY_FILES) <= present


@pytest.mark.parametrize("name", POLICY_FILES)
def test_policy_structure(policies, name):
    lines = policies[name].splitlines()
    titles = [line for line in lines if line.startswith("# ")]
    sections = [line for line in lines if line.startswith("## ")]
    assert len(titles) == 1, name
    assert lines[0].startswith("# "), f"{name} must start with its title"
    assert 3 <= len(sections) <= 6, name
    assert not any(line.startswith("###") for line in lines), name


@pytest.mark.parametrize(
    "name, title",
    [
        ("ordering.md", "Ordering Guide"),
        ("delivery.md", "Delivery Policy"),
        ("cancellation.md", "Cancellation Policy"),
        ("payments.md", "Payment and Invoicing"),
        ("returns.md", "Damaged and Wrong Goods"),
        ("escalation.md", "Escalation and Complaints"),
        ("large-orders.md", "Large Order Review"),
        ("privacy.md", "Account and Privacy"),
        ("products.md", "Product Range"),
    ],
)
def test_policy_titles(policies, name, title):
    assert policies[name].splitlines()[0] == f"# {title}"


@pytest.mark.parametrize(
    "needle",
    ["2:00 PM", "Tuesday", "Thursday", "Saturday", "24 hours", "25%", "50%", "9%",
     "48 hours", "200%", "1,000", "5,000", "L1", "L2", "L3", "L4"],
)
def test_policies_state_key_numbers(policies, needle):
    assert any(needle in text for text in policies.values()), needle


def test_policies_state_payment_terms(policies):
    assert "Net 30" in policies["payments.md"] or "30 days" in policies["payments.md"]


@pytest.mark.parametrize(
    "name, needles",
    [
        ("ordering.md", ["2:00 PM", "yes"]),
        ("delivery.md", ["Tuesday", "Thursday", "Saturday", "9:00 AM", "1:00 PM", "2:00 PM", "public holiday"]),
        ("cancellation.md", ["24 hours", "25%", "50%", "12 hours", "SGD 400", "SGD 100"]),
        ("payments.md", ["9%", "Net 30", "INV-YYYY-NNNNN", "PayNow"]),
        ("returns.md", ["48 hours"]),
        ("escalation.md", ["L1", "L2", "L3", "L4", "ESC-NNNNN", "4 business hours", "30 minutes"]),
        ("large-orders.md", ["200%", "SGD 1,000", "SGD 5,000", "L3"]),
    ],
)
def test_each_policy_states_its_own_rules(policies, name, needles):
    for needle in needles:
        assert needle in policies[name], f"{name} should mention {needle!r}"


@pytest.mark.parametrize("name", POLICY_FILES)
def test_policy_sections_have_two_to_five_passages(policies, name):
    counts: dict[str, int] = {}
    section = None
    for line in policies[name].splitlines():
        if line.startswith("## "):
            section = line[3:]
            counts[section] = 0
        elif section is not None and line.strip() and not line.startswith("#"):
            counts[section] += 1
    for heading, count in counts.items():
        assert 2 <= count <= 5, f"{name} / {heading}: {count} passages"


def test_policy_passages_are_short(policies):
    """Each paragraph or bullet is a passage on its own; keep them quotable."""
    for name, text in policies.items():
        for line in text.splitlines():
            if line.startswith("- "):
                assert len(line) <= 320, f"{name}: bullet too long: {line[:60]}..."
