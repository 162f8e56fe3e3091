"""Orders: drafting (lines, stock and minimum checks, totals, delivery day), numbering,
cancellability and the stock rule.

A draft is a `Draft` record (a plain dict) so it lives in the conversation state and its
checkpoints unchanged. Nothing here writes words for the customer: problems and notes
are codes with their facts, and replies.py words them.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from decimal import Decimal

from .catalog import MatchResult, Product
from .delivery import next_delivery_date, weekday_index
from .money import to_money
from .records import OPEN_DRAFT, Draft, OrderLine, OrderStatus, Problem

_REMOVE = re.compile(r"\b(remove|without|drop|no need|don'?t need|dont need|cancel the|take out)\b", re.I)
_BARE_QUANTITY = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.])")

ORDER_NUMBER_BASE = 10000
# Only a confirmed order can still be cancelled: once it is out for delivery (or
# delivered) the goods have left the warehouse.
CANCELLABLE: tuple[OrderStatus, ...] = ("confirmed",)
# Statuses whose order carries an invoice.
INVOICEABLE: tuple[OrderStatus, ...] = ("confirmed", "out_for_delivery", "delivered")


def order_number(order_id: int) -> str:
    """SO-10042: the order's database id past a base, so numbers are never reused."""
    return f"SO-{ORDER_NUMBER_BASE + order_id}"


def stock_after(stock: int, quantity: int) -> int:
    """Stock left once `quantity` is taken: never below zero. (The adapter applies the
    same rule inside one SQL UPDATE so concurrent orders both count.)"""
    return stock - quantity if stock > quantity else 0


def requested_quantities(
    match: MatchResult, text: str, previous: dict[str, int | None] | None = None
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


def price_lines(
    quantities: dict[str, int | None], catalog: dict[str, Product]
) -> tuple[list[OrderLine], list[Problem]]:
    """Order lines plus the problems that stop the order being placed."""
    lines: list[OrderLine] = []
    problems: list[Problem] = []
    for sku, quantity in quantities.items():
        product = catalog[sku]

        def problem(kind) -> Problem:
            return Problem(
                kind=kind, sku=sku, name=product.name, unit=product.unit, quantity=quantity,
                minimum=product.min_order_qty, stock=product.stock,
            )

        if quantity is None:
            problems.append(problem("no_quantity"))
            continue
        if quantity < product.min_order_qty:
            problems.append(problem("below_minimum"))
        if quantity > product.stock:
            problems.append(problem("short_stock" if product.stock else "out_of_stock"))
        lines.append(
            OrderLine(
                sku=sku,
                name=product.name,
                unit=product.unit,
                quantity=quantity,
                unit_price=product.price,
                line_total=to_money(product.price * quantity),
            )
        )
    return lines, problems


def totals(line_totals: list[Decimal], tax_rate: float | Decimal) -> dict[str, Decimal]:
    """Subtotal, GST and total of some line amounts: the one computation orders, drafts
    and invoices share (GST is on the subtotal, rounded half-up to the cent)."""
    subtotal = to_money(sum((Decimal(amount) for amount in line_totals), Decimal("0")))
    gst = to_money(subtotal * Decimal(str(tax_rate)))
    return {"subtotal": subtotal, "gst": gst, "total": subtotal + gst}


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
) -> Draft:
    lines, problems = price_lines(quantities, catalog)
    delivery_weekdays = {weekday_index(d) for d in delivery_days}
    not_a_delivery_day = bool(requested_day) and weekday_index(requested_day) not in delivery_weekdays
    clean = bool(lines) and not problems and not unknown
    return Draft(
        draft_id=draft_id or uuid.uuid4().hex,
        status="awaiting_confirmation" if clean else "needs_changes",
        lines=lines,
        unknown=list(unknown),
        problems=problems,
        **totals([line["line_total"] for line in lines], tax_rate),
        tax_rate=Decimal(str(tax_rate)),
        delivery_date=next_delivery_date(placed_at, cutoff, delivery_days, requested_day),
        requested_day=requested_day,
        day_note="not_a_delivery_day" if not_a_delivery_day else None,
        anomalies=[],
    )


def draft_quantities(draft: Draft | None) -> dict[str, int | None] | None:
    """The SKU -> quantity map of a draft still open for changes."""
    if not draft or draft["status"] not in OPEN_DRAFT:
        return None
    return {line["sku"]: line["quantity"] for line in draft["lines"]}
