"""The Xero outbox: work for Xero written in the same transaction as its cause.

An order and its "create_invoice" entry commit together (OrderStore.place_order), a
cancellation and its "void_invoice" entry likewise; a worker sends entries later.
Claiming is a compare-and-set on a lease (lease_owner, lease_until), which works on
SQLite and Postgres alike and across processes; on Postgres the candidate rows are
also read `FOR UPDATE SKIP LOCKED`, so competing workers skip each other's rows
instead of queueing behind them. A worker that dies keeps its lease until it runs
out; then another worker takes the entry over and sends it again with the same
Idempotency-Key, which Xero answers with the invoice it already made.

All outbox times are UTC wall-clock (not the business clock).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..domain.invoicing import due_date, invoice_number
from ..domain.orders import totals
from .database import InvoiceRow, OrderRow, OutboxRow


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def create_key(order_number: str) -> str:
    """The Idempotency-Key of an order's invoice: the same for every attempt and worker."""
    return f"tria-invoice-{order_number}"


def void_key(order_number: str) -> str:
    return f"tria-void-{order_number}"


def add_invoice(s: Session, order: OrderRow, issued_on: date, tax_rate: float, payment_terms_days: int) -> InvoiceRow:
    """The order's invoice and its outbox entry, in the caller's transaction.

    The invoice is numbered here (INV-YYYY-NNNNN) and sent to Xero with that number,
    so the number the customer sees and Xero's are the same."""
    amounts = totals([line.line_total for line in order.lines], tax_rate)
    now = utcnow()
    row = InvoiceRow(
        order_id=order.id,
        customer_id=order.customer_id,
        issued_on=issued_on,
        due_on=due_date(issued_on, payment_terms_days),
        created_at=now,
        delivery_status="not_sent",
        **amounts,
    )
    s.add(row)
    s.flush()
    row.number = invoice_number(issued_on.year, row.id)
    s.add(outbox_entry("create_invoice", order, row, create_key(order.number), now))
    return row


def outbox_entry(kind: str, order: OrderRow, invoice: InvoiceRow, key: str, now: datetime) -> OutboxRow:
    return OutboxRow(
        kind=kind,
        order_id=order.id,
        invoice_id=invoice.id,
        idempotency_key=key,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


def _claimable(now: datetime):
    return (
        OutboxRow.status == "pending",
        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now),
    )


class Outbox:
    def __init__(self, sessions: sessionmaker) -> None:
        self.sessions = sessions

    @property
    def _postgres(self) -> bool:
        return self.sessions.kw["bind"].dialect.name == "postgresql"

    def claim_due(self, owner: str, lease: float, limit: int) -> list[int]:
        """Claim up to `limit` entries that are due; their ids, oldest first."""
        now = utcnow()
        with self.sessions() as s:
            query = (
                select(OutboxRow.id)
                .where(*_claimable(now), OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list(s.scalars(query))
            claimed = [i for i in ids if self._take(s, i, owner, now, lease)]
            s.commit()
        return claimed

    def claim_entry(self, entry_id: int, owner: str, lease: float) -> bool:
        """Claim one entry now, due or not (the chat path sends its order at once)."""
        now = utcnow()
        with self.sessions() as s:
            taken = self._take(s, entry_id, owner, now, lease)
            s.commit()
        return taken

    @staticmethod
    def _take(s: Session, entry_id: int, owner: str, now: datetime, lease: float) -> bool:
        result = s.execute(
            update(OutboxRow)
            .where(OutboxRow.id == entry_id, *_claimable(now))
            .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease), updated_at=now)
        )
        return result.rowcount == 1

    def entry_for_order(self, order_id: int, kind: str) -> OutboxRow | None:
        with self.sessions() as s:
            return s.scalar(select(OutboxRow).where(OutboxRow.order_id == order_id, OutboxRow.kind == kind))

    def pending_count(self) -> int:
        with self.sessions() as s:
            return len(list(s.scalars(select(OutboxRow.id).where(OutboxRow.status == "pending"))))
