"""Invoice terms: numbering and the due date (Net PAYMENT_TERMS_DAYS from issue).

Amounts are the order's: `orders.totals` computes them for drafts, orders and invoices.
"""

from __future__ import annotations

from datetime import date, timedelta

from .records import InvoiceStatus

# Invoices that no longer stand: the order was cancelled.
WITHDRAWN: tuple[InvoiceStatus, ...] = ("cancelled", "void_pending", "voided")


def due_date(issued_on: date, payment_terms_days: int) -> date:
    return issued_on + timedelta(days=payment_terms_days)


def invoice_number(year: int, sequence: int) -> str:
    """INV-2026-00042: the sequence is the invoice's database id, so never reused."""
    return f"INV-{year}-{sequence:05d}"
