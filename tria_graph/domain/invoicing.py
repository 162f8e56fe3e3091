"""Invoice terms: GST on the lines, Net 30 from the invoice date, numbering."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from .money import to_money


def invoice_amounts(lines: list[dict], tax_rate: float) -> dict:
    subtotal = to_money(sum((Decimal(line["line_total"]) for line in lines), Decimal("0")))
    gst = to_money(subtotal * Decimal(str(tax_rate)))
    return {"subtotal": subtotal, "gst": gst, "total": subtotal + gst}


def due_date(issued_on: date, payment_terms_days: int) -> date:
    return issued_on + timedelta(days=payment_terms_days)


def invoice_number(year: int, sequence: int) -> str:
    """INV-2026-00042: the sequence is the invoice's database id, so never reused."""
    return f"INV-{year}-{sequence:05d}"
