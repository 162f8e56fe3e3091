"""Reads and writes of the orders database, always scoped to one customer.

Every query that returns orders, invoices or escalations takes the customer_id of the
session, so no message can reach another outlet's data.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload, sessionmaker

from ..domain.catalog import Product
from ..domain.escalation import due_by
from .outbox import add_invoice, outbox_entry, utcnow, void_key
from .database import (
    ChatSessionRow,
    EscalationRow,
    InvoiceRow,
    OrderLineRow,
    OrderRow,
    OutletRow,
    ProductRow,
    transcript_id,
)

ORDER_NUMBER_BASE = 10000


def order_number(order_id: int) -> str:
    return f"SO-{ORDER_NUMBER_BASE + order_id}"


def order_dict(row: OrderRow, invoice: InvoiceRow | None = None) -> dict:
    return {
        "number": row.number,
        "status": row.status,
        "created_at": row.created_at,
        "delivery_date": row.delivery_date,
        "subtotal": row.subtotal,
        "gst": row.gst,
        "total": row.total,
        "lines": [
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
        "invoice_number": invoice.number if invoice else None,
    }


class OrderNotCancellable(Exception):
    """The order is not the customer's, or is past the point of cancelling."""


class Repository:
    def __init__(self, sessions: sessionmaker, tax_rate: float = 0.09, payment_terms_days: int = 30) -> None:
        self.sessions = sessions
        self.tax_rate = tax_rate
        self.payment_terms_days = payment_terms_days

    # --- health -------------------------------------------------------------
    def ping(self) -> None:
        with self.sessions() as s:
            s.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.sessions.kw["bind"].dispose()

    # --- catalog and outlets -----------------------------------------------
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

    def outlet(self, customer_id: str) -> dict | None:
        with self.sessions() as s:
            row = s.get(OutletRow, customer_id)
            if row is None:
                return None
            return {
                "customer_id": row.customer_id,
                "name": row.name,
                "contact_name": row.contact_name,
                "usual_order_value": Decimal(row.usual_order_value),
            }

    def has_orders(self, customer_id: str) -> bool:
        with self.sessions() as s:
            return s.scalar(
                select(func.count()).select_from(OrderRow).where(
                    OrderRow.customer_id == customer_id, OrderRow.status != "cancelled"
                )
            ) > 0

    # --- sessions -----------------------------------------------------------
    def bind_session(self, session_id: str, customer_id: str, now: datetime) -> str:
        """The customer who owns the session; the first caller becomes the owner.

        The owner's use also marks the session active now (pruning goes by that)."""
        with self.sessions() as s:
            row = s.get(ChatSessionRow, session_id)
            if row is None:
                s.add(
                    ChatSessionRow(
                        session_id=session_id,
                        customer_id=customer_id,
                        created_at=now,
                        last_active_at=now,
                        transcript_id=transcript_id(session_id),
                    )
                )
                try:
                    s.commit()
                    return customer_id
                except IntegrityError:  # another request opened it at the same moment
                    s.rollback()
                    row = s.get(ChatSessionRow, session_id)
            if row.customer_id == customer_id:
                row.last_active_at = now
                s.commit()
            return row.customer_id

    def touch_session(self, session_id: str, customer_id: str, now: datetime) -> bool:
        """Mark the customer's existing session active: one statement, the common case.
        False when the session is new or someone else's (bind_session then decides)."""
        with self.sessions() as s:
            updated = s.execute(
                update(ChatSessionRow)
                .where(ChatSessionRow.session_id == session_id, ChatSessionRow.customer_id == customer_id)
                .values(last_active_at=now)
            ).rowcount
            s.commit()
        return updated == 1

    def session_owner(self, session_id: str) -> str | None:
        with self.sessions() as s:
            row = s.get(ChatSessionRow, session_id)
            return row.customer_id if row else None

    def idle_sessions(self, before: datetime, limit: int = 1000) -> list[str]:
        """Sessions not used since `before`, oldest first."""
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(ChatSessionRow.session_id)
                    .where(ChatSessionRow.last_active_at < before)
                    .order_by(ChatSessionRow.last_active_at)
                    .limit(limit)
                )
            )

    def forget_sessions(self, session_ids: list[str]) -> None:
        with self.sessions() as s:
            s.execute(delete(ChatSessionRow).where(ChatSessionRow.session_id.in_(session_ids)))
            s.commit()

    # --- orders -------------------------------------------------------------
    def order(self, customer_id: str, number: str) -> dict | None:
        with self.sessions() as s:
            row = s.scalar(
                select(OrderRow)
                .options(selectinload(OrderRow.lines))
                .where(OrderRow.customer_id == customer_id, OrderRow.number == number)
            )
            return self._with_invoice(s, row)

    def latest_order(self, customer_id: str) -> dict | None:
        with self.sessions() as s:
            row = s.scalar(
                select(OrderRow)
                .options(selectinload(OrderRow.lines))
                .where(OrderRow.customer_id == customer_id)
                .order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
                .limit(1)
            )
            return self._with_invoice(s, row)

    @staticmethod
    def _with_invoice(s, row: OrderRow | None) -> dict | None:
        if row is None:
            return None
        invoice = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == row.id))
        return order_dict(row, invoice)

    def place_order(self, customer_id: str, draft: dict, placed_at: datetime) -> dict:
        """Write a confirmed draft as an order, once: the draft id is unique.

        The order, its invoice and the outbox entry that will send the invoice to Xero
        commit in one transaction: there is never an order nobody will invoice."""
        with self.sessions() as s:
            existing = s.scalar(
                select(OrderRow)
                .options(selectinload(OrderRow.lines))
                .where(OrderRow.draft_id == draft["draft_id"])
            )
            if existing is not None:
                return order_dict(existing)
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
                # One UPDATE per line, computed in the database: two replicas placing
                # orders for the same product at once both count.
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
                existing = s.scalar(
                    select(OrderRow)
                    .options(selectinload(OrderRow.lines))
                    .where(OrderRow.draft_id == draft["draft_id"])
                )
                return order_dict(existing)
            return order_dict(row)

    def cancel_order(self, customer_id: str, number: str) -> dict:
        """Cancel a confirmed order. If it has an invoice, a void_invoice outbox entry is
        written in the same transaction: the worker voids it in Xero if it went out, or
        stops it from going out if it has not."""
        with self.sessions() as s:
            row = s.scalar(
                select(OrderRow)
                .options(selectinload(OrderRow.lines))
                .where(OrderRow.customer_id == customer_id, OrderRow.number == number)
                .with_for_update()
            )
            if row is None:
                raise OrderNotCancellable(f"No order {number} for {customer_id}.")
            if row.status == "cancelled":
                return self._with_invoice(s, row)
            if row.status != "confirmed":
                raise OrderNotCancellable(f"Order {number} is {row.status.replace('_', ' ')}; it can no longer be cancelled.")
            row.status = "cancelled"
            invoice = s.scalar(select(InvoiceRow).where(InvoiceRow.order_id == row.id))
            if invoice is not None and invoice.delivery_status != "local":
                invoice.delivery_status = "void_pending"
                s.add(outbox_entry("void_invoice", row, invoice, void_key(number), utcnow()))
            s.commit()
            return order_dict(row, invoice)

    # --- escalations --------------------------------------------------------
    def count_escalations(self, customer_id: str) -> int:
        with self.sessions() as s:
            return s.scalar(
                select(func.count()).select_from(EscalationRow).where(
                    EscalationRow.customer_id == customer_id, EscalationRow.kind == "complaint"
                )
            )

    def create_escalation(
        self,
        *,
        customer_id: str,
        session_id: str,
        level: str,
        kind: str,
        reason: str,
        message: str,
        details: dict,
        now: datetime,
    ) -> dict:
        with self.sessions() as s:
            row = EscalationRow(
                customer_id=customer_id,
                session_id=session_id,
                level=level,
                kind=kind,
                reason=reason,
                message=message,
                details=json.loads(json.dumps(details, default=str)),
                status="open",
                created_at=now,
                due_at=due_by(now, level),
            )
            s.add(row)
            s.flush()
            row.reference = f"ESC-{row.id:05d}"
            s.commit()
            return {
                "reference": row.reference,
                "level": row.level,
                "kind": row.kind,
                "reason": row.reason,
                "due_at": row.due_at,
            }
