"""The catalogue, outlets and orders in the database, always scoped to one customer.

Every query that returns an order takes the customer_id of the session, so no message
can reach another outlet's orders. The rules (numbering, what can be cancelled, stock
never below zero, totals) are domain code; this module applies them in transactions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ..domain.catalog import Product
from ..domain.orders import CANCELLABLE, order_number
from ..domain.records import Draft, Order, OrderStatus, Outlet
from .database import InvoiceRow, OrderLineRow, OrderRow, OutletRow, ProductRow
from .outbox import add_invoice, outbox_entry, utcnow, void_key


class OrderNotFound(Exception):
    """No order with this number on this customer's account."""

    code = "order_not_found"

    def __init__(self, number: str) -> None:
        super().__init__(f"no order {number} on this account")
        self.number = number


class OrderNotCancellable(Exception):
    """The order is past the point of cancelling (out for delivery, delivered...)."""

    code = "order_not_cancellable"

    def __init__(self, number: str, status: OrderStatus) -> None:
        super().__init__(f"order {number} is {status.replace('_', ' ')}; it can no longer be cancelled")
        self.number = number
        self.status = status


def order_record(row: OrderRow, invoice: InvoiceRow | None = None) -> Order:
    return Order(
        number=row.number,
        status=row.status,  # type: ignore[typeddict-item]
        created_at=row.created_at,
        delivery_date=row.delivery_date,
        subtotal=row.subtotal,
        gst=row.gst,
        total=row.total,
        lines=[
            {
                "sku": line.sku,
                "name": line.name,
                "unit": line.unit,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "line_total": line.line_total,
            }
            for line in row.lines
        ],
        invoice_number=invoice.number if invoice else None,
    )


def _with_lines():
    return select(OrderRow).options(selectinload(OrderRow.lines))


class OrderStore:
    def __init__(self, sessions: sessionmaker, tax_rate: float = 0.09, payment_terms_days: int = 30) -> None:
        self.sessions = sessions
        self.tax_rate = tax_rate
        self.payment_terms_days = payment_terms_days

    # --- catalogue and outlets ---------------------------------------------
    def products(self) -> list[Product]:
        with self.sessions() as s:
            rows = s.scalars(select(ProductRow).order_by(ProductRow.sku)).all()
        return [
            Product(
                sku=r.sku,
                name=r.name,
                category=r.category,
                size=r.size,
                unit=r.unit,
                price=Decimal(r.price),
                stock=r.stock,
                min_order_qty=r.min_order_qty,
                aliases=tuple(a.strip() for a in r.aliases.split(";") if a.strip()),
            )
            for r in rows
        ]

    def outlet(self, customer_id: str) -> Outlet | None:
        with self.sessions() as s:
            row = s.get(OutletRow, customer_id)
            if row is None:
                return None
            return Outlet(
                customer_id=row.customer_id,
                name=row.name,
                contact_name=row.contact_name,
                usual_order_value=Decimal(row.usual_order_value),
            )

    def has_orders(self, customer_id: str) -> bool:
        with self.sessions() as s:
            return s.scalar(
                select(func.count()).select_from(OrderRow).where(
                    OrderRow.customer_id == customer_id, OrderRow.status != "cancelled"
                )
            ) > 0

    # --- orders -------------------------------------------------------------
    def order(self, customer_id: str, number: str) -> Order | None:
        with self.sessions() as s:
            row = s.scalar(_with_lines().where(OrderRow.customer_id == customer_id, OrderRow.number == number))
            return self._with_invoice(s, row)

    def latest_order(self, customer_id: str) -> Order | None:
        with self.sessions() as s:
            row = s.scalar(
                _with_lines()
                .where(OrderRow.customer_id == customer_id)
                .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
                .limit(1)
            )
            return self._with_invoice(s, row)

    @staticmethod
    def _with_invoice(s: Session, row: OrderRow | None) -> Order | None:
        if row is None:
            return None
        invoice = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == row.id))
        return order_record(row, invoice)

    def place_order(self, customer_id: str, draft: Draft, placed_at: datetime) -> Order:
        """Write a confirmed draft as an order, once: the draft id is unique.

        The order, its invoice and the outbox entry that will send the invoice to Xero
        commit in one transaction: there is never an order nobody will invoice."""
        with self.sessions() as s:
            existing = s.scalar(_with_lines().where(OrderRow.draft_id == draft["draft_id"]))
            if existing is not None:
                return order_record(existing)
            row = OrderRow(
                customer_id=customer_id,
                status="confirmed",
                created_at=placed_at,
                delivery_date=draft["delivery_date"],
                subtotal=draft["subtotal"],
                gst=draft["gst"],
                total=draft["total"],
                draft_id=draft["draft_id"],
                lines=[
                    OrderLineRow(
                        sku=line["sku"],
                        name=line["name"],
                        unit=line["unit"],
                        quantity=line["quantity"],
                        unit_price=line["unit_price"],
                        line_total=line["line_total"],
                    )
                    for line in draft["lines"]
                ],
            )
            s.add(row)
            for line in draft["lines"]:
                # domain.orders.stock_after, computed by the database in one UPDATE per
                # line: two replicas placing orders for the same product at once both count.
                quantity = line["quantity"]
                s.execute(
                    update(ProductRow)
                    .where(ProductRow.sku == line["sku"])
                    .values(stock=case((ProductRow.stock > quantity, ProductRow.stock - quantity), else_=0))
                )
            try:
                s.flush()
                row.number = order_number(row.id)
                add_invoice(s, row, placed_at.date(), self.tax_rate, self.payment_terms_days)
                s.commit()
            except IntegrityError:
                # Another process placed the same draft first.
                s.rollback()
                existing = s.scalar(_with_lines().where(OrderRow.draft_id == draft["draft_id"]))
                return order_record(existing)
            return order_record(row)

    def cancel_order(self, customer_id: str, number: str) -> Order:
        """Cancel an order that may still be cancelled (domain.orders.CANCELLABLE).

        If it has an invoice, a void_invoice outbox entry is written in the same
        transaction: the worker voids it in Xero if it went out, or stops it from going
        out if it has not. Cancelling a cancelled order returns it unchanged."""
        with self.sessions() as s:
            row = s.scalar(
                _with_lines()
                .where(OrderRow.customer_id == customer_id, OrderRow.number == number)
                .with_for_update()
            )
            if row is None:
                raise OrderNotFound(number)
            if row.status == "cancelled":
                return self._with_invoice(s, row)
            if row.status not in CANCELLABLE:
                raise OrderNotCancellable(number, row.status)
            row.status = "cancelled"
            invoice = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == row.id))
            if invoice is not None and invoice.delivery_status != "local":
                invoice.delivery_status = "void_pending"
                s.add(outbox_entry("void_invoice", row, invoice, void_key(number), utcnow()))
            s.commit()
            return order_record(row, invoice)
