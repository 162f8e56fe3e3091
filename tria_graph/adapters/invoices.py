"""Invoices behind one interface: kept locally, or sent to Xero (adapters/xero/).

`LocalInvoiceGateway` keeps invoices in the orders database, marked not sent (their
outbox entries wait until Xero is configured). It is idempotent per order: the
invoices table allows one row per order, and asking again returns it.

Failures are `InvoiceError`s with a code; replies.py tells the customer what each means.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, sessionmaker

from ..domain.orders import INVOICEABLE
from ..domain.records import Invoice, InvoiceProblem, OrderStatus
from .database import InvoiceRow, OrderRow
from .outbox import add_invoice


class InvoiceError(Exception):
    """The order's invoice cannot be given now; `code` says why."""

    def __init__(self, code: InvoiceProblem, order_number: str, status: OrderStatus | None = None) -> None:
        super().__init__(f"{code}: invoice for order {order_number}" + (f" ({status})" if status else ""))
        self.code = code
        self.order_number = order_number
        self.status = status


class InvoicePending(InvoiceError):
    """The invoice is on its way to Xero."""

    def __init__(self, order_number: str) -> None:
        super().__init__("pending", order_number)


class InvoiceGateway(Protocol):
    def invoice_for_order(self, customer_id: str, order_number: str, today: date) -> Invoice:
        """The order's invoice, created on first request; raises InvoiceError."""
        ...

    def status(self) -> str:
        """Circuit-breaker style state for /health: closed, open or not_configured."""
        ...


def invoice_record(row: InvoiceRow, order: OrderRow) -> Invoice:
    return Invoice(
        # Xero's InvoiceNumber once sent (the same, since Tria sends its own number).
        number=row.external_number or row.number,
        order_number=order.number,
        issued_on=row.issued_on,
        due_on=row.due_on,
        subtotal=row.subtotal,
        gst=row.gst,
        total=row.total,
        status=row.delivery_status,  # type: ignore[typeddict-item]
        xero_invoice_id=row.external_id,
        lines=[
            {
                "sku": line.sku,
                "description": line.name,
                "quantity": line.quantity,
                "unit_amount": line.unit_price,
                "line_amount": line.line_total,
            }
            for line in order.lines
        ],
    )


class LocalInvoiceGateway:
    def __init__(self, sessions: sessionmaker, tax_rate: float, payment_terms_days: int) -> None:
        self.sessions = sessions
        self.tax_rate = tax_rate
        self.payment_terms_days = payment_terms_days

    def status(self) -> str:
        return "not_configured"

    def order_id(self, customer_id: str, order_number: str) -> int | None:
        with self.sessions() as s:
            return s.scalar(
                select(OrderRow.id).where(OrderRow.customer_id == customer_id, OrderRow.number == order_number)
            )

    def invoice_for_order(self, customer_id: str, order_number: str, today: date) -> Invoice:
        with self.sessions() as s:
            order = s.scalar(
                select(OrderRow)
                .options(selectinload(OrderRow.lines))
                .where(OrderRow.customer_id == customer_id, OrderRow.number == order_number)
            )
            if order is None:
                raise InvoiceError("order_not_found", order_number)
            existing = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == order.id))
            if existing is not None:
                return invoice_record(existing, order)
            if order.status not in INVOICEABLE:
                raise InvoiceError("not_invoiceable", order.number, order.status)
            # An order placed before invoices were written with it: its invoice and
            # outbox entry now, in one transaction.
            row = add_invoice(s, order, today, self.tax_rate, self.payment_terms_days)
            try:
                s.commit()
            except IntegrityError:
                # A concurrent request invoiced this order first: return that invoice.
                s.rollback()
                row = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == order.id))
            return invoice_record(row, order)
