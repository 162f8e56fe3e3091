"""Drafting an order: lines, stock and minimum-quantity checks, totals, delivery day.

A draft is a plain dict so it can live in the conversation state (and checkpoints)
unchanged; amounts are Decimal, the delivery date a date.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from decimal import Decimal

from .catalog import MatchResult, Product
from .delivery import next_delivery_date, weekday_index
from .money import to_money

_REMOVE = re.compile(r"\b(remove|without|drop|no need|don'?t need|dont need|cancel the|take out)\b", re.I)
_BARE_QUANTITY = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.])")


def requested_quantities(
    match: MatchResult, text: str, previous: dict[str, int] | None = None
) -> dict[str, int | None]:
    """SKU -> quantity after applying this message to an earlier draft (if any).

    New items replace the quantity of the same SKU, "remove X" drops it, and a bare
    number ("make it 300") changes the only line of a one-line draft.
    """
    quantities: dict[str, int | None] = dict(previous or {})
    for item in match.items:
        if _REMOVE.search(item.text):
            quantities.pop(item.sku, None)
        else:
            quantities[item.sku] = item.quantity
    if not match.items and previous and len(previous) == 1:
        numbers = _BARE_QUANTITY.findall(text)
        if len(numbers) == 1:
            (sku,) = previous
            quantities[sku] = int(numbers[0].replace(",", ""))
    return quantities


def price_lines(quantities: dict[str, int | None], catalog: dict[str, Product]):
    """Order lines plus the problems that stop the order being placed."""
    lines: list[dict] = []
    problems: list[str] = []
    for sku, quantity in quantities.items():
        product = catalog[sku]
        if quantity is None:
            problems.append(f"How many {product.name} would you like?")
            continue
        if quantity < product.min_order_qty:
            problems.append(
                f"{product.name}: the minimum order is {product.min_order_qty} {product.unit}s "
                f"(you asked for {quantity})."
            )
        if quantity > product.stock:
            problems.append(
                f"{product.name}: only {product.stock} in stock (you asked for {quantity})."
                if product.stock
                else f"{product.name} is out of stock."
            )
        lines.append(
            {
                "sku": sku,
                "name": product.name,
                "unit": product.unit,
                "quantity": quantity,
                "unit_price": product.price,
                "line_total": to_money(product.price * quantity),
            }
        )
    return lines, problems


def totals(lines: list[dict], tax_rate: float) -> dict:
    subtotal = to_money(sum((line["line_total"] for line in lines), Decimal("0")))
    gst = to_money(subtotal * Decimal(str(tax_rate)))
    return {"subtotal": subtotal, "gst": gst, "total": subtotal + gst, "tax_rate": Decimal(str(tax_rate))}


def build_draft(
    quantities: dict[str, int | None],
    unknown: list[str],
    catalog: dict[str, Product],
    *,
    tax_rate: float,
    placed_at: datetime,
    cutoff: time,
    delivery_days: list[str],
    requested_day: str | None,
    draft_id: str | None = None,
) -> dict:
    lines, problems = price_lines(quantities, catalog)
    day_note = None
    if requested_day and weekday_index(requested_day) not in {weekday_index(d) for d in delivery_days}:
        day_note = (
            f"We don't deliver on {requested_day}; we deliver on "
            f"{', '.join(delivery_days[:-1])} and {delivery_days[-1]}."
        )
    delivery: date = next_delivery_date(placed_at, cutoff, delivery_days, requested_day)
    status = "awaiting_confirmation" if lines and not problems and not unknown else "needs_changes"
    return {
        "draft_id": draft_id or uuid.uuid4().hex,
        "lines": lines,
        "unknown": list(unknown),
        "problems": problems,
        **totals(lines, tax_rate),
        "delivery_date": delivery,
        "requested_day": requested_day,
        "day_note": day_note,
        "anomalies": [],
        "status": status,
    }


def draft_quantities(draft: dict | None) -> dict[str, int | None] | None:
    """The SKU -> quantity map of a draft still open for changes."""
    if not draft or draft.get("status") not in ("awaiting_confirmation", "needs_changes"):
        return None
    return {line["sku"]: line["quantity"] for line in draft["lines"]}
