"""The outbox worker: sends invoices to Xero and voids them, each exactly once.

It runs inside the server (an asyncio task in the lifespan) and as `tria worker`.
For each claimed outbox entry:

- create_invoice: find or create the outlet's Xero contact, PUT the invoice with the
  entry's Idempotency-Key, then record Xero's InvoiceID and InvoiceNumber with the
  entry marked done, in one transaction. Dying between Xero's answer and that commit
  is safe: the entry's lease runs out, a worker sends it again with the same key, and
  Xero answers with the invoice it already made.
- void_invoice: if the invoice went out, void it in Xero; if it never did, stop its
  create entry (the order was cancelled first).

Failures: XeroTransient (429, 5xx, timeouts, open breaker) reschedules the entry with
exponential backoff (tenacity's wait, or Xero's Retry-After if longer) and keeps the
error; XeroRejected (400) records Xero's reasons on the invoice, marks the entry
failed and opens an escalation for the billing team. Nothing is left half-done: every
entry ends done, failed (with an escalation) or cancelled, or is still pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import selectinload, sessionmaker
from tenacity import wait_random_exponential

from ...domain.escalation import XERO_REJECTED_LEVEL, NewEscalation
from ..database import InvoiceRow, OrderRow, OutboxRow, OutletRow, XeroContactRow
from ..escalations import add_escalation
from ..invoices import invoice_record
from ..orders import order_record
from ..outbox import Outbox, utcnow
from .client import XeroClient, XeroRejected, XeroTransient, invoice_payload
from .tokens import NotConnected

log = logging.getLogger("tria.worker")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class XeroWorker:
    def __init__(
        self,
        sessions: sessionmaker,
        client: XeroClient,
        settings,
        *,
        owner: str | None = None,
        backoff=None,
        after_send: Callable[[OutboxRow], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.settings = settings
        self.outbox = Outbox(sessions)
        self.owner = owner or worker_id()
        self.backoff = backoff or wait_random_exponential(multiplier=2, max=600)
        # Test hook: runs between Xero's answer and recording it (a crash goes here).
        self.after_send = after_send
        self.pool = ThreadPoolExecutor(max_workers=settings.xero_max_concurrent, thread_name_prefix="xero")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    # --- loops ---------------------------------------------------------------
    def run_once(self, limit: int = 50) -> int:
        """Claim the due entries and process them; how many were claimed."""
        ids = self.outbox.claim_due(self.owner, self.settings.xero_lease_seconds, limit)
        for future in [self.pool.submit(self.process, i) for i in ids]:
            try:
                future.result()
            except Exception:
                log.exception("outbox entry failed unexpectedly")
        return len(ids)

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                claimed = await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("outbox poll failed")
                claimed = 0
            if claimed == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.xero_poll_interval)
                except asyncio.TimeoutError:
                    pass

    def deliver_order(self, order_id: int) -> bool:
        """Send this order's invoice now (the chat path); False if another worker has it."""
        entry = self.outbox.entry_for_order(order_id, "create_invoice")
        if entry is None or entry.status != "pending":
            return entry is not None and entry.status == "done"
        if not self.outbox.claim_entry(entry.id, self.owner, self.settings.xero_lease_seconds):
            return False
        self.process(entry.id)
        return True

    # --- one entry -----------------------------------------------------------
    def process(self, entry_id: int) -> None:
        with self.sessions() as s:
            entry = s.get(OutboxRow, entry_id)
            attempts = entry.attempts
        try:
            if entry.kind == "create_invoice":
                self._create(entry)
            else:
                self._void(entry)
        except XeroRejected as exc:
            self._rejected(entry, exc)
        except (XeroTransient, NotConnected) as exc:
            delay = self.backoff(SimpleNamespace(attempt_number=attempts + 1))
            retry_after = getattr(exc, "retry_after", None) or 0
            self._reschedule(entry, str(exc), max(delay, retry_after))

    def _load(self, s, entry: OutboxRow):
        order = s.scalar(select(OrderRow).options(selectinload(OrderRow.lines)).where(OrderRow.id == entry.order_id))
        invoice = s.get(InvoiceRow, entry.invoice_id)
        return order, invoice

    def _create(self, entry: OutboxRow) -> None:
        with self.sessions() as s:
            order, invoice = self._load(s, entry)
            outlet = s.get(OutletRow, order.customer_id)
            if invoice.external_id:  # recorded already (a retried entry)
                self._finish(entry, "done")
                return
            if order.status == "cancelled":
                self._finish(entry, "cancelled", invoice_status="cancelled")
                return
            payload = invoice_payload(order_record(order), invoice_record(invoice, order), self.settings)
            outlet = {"customer_id": outlet.customer_id, "name": outlet.name, "email": outlet.email, "contact_name": outlet.contact_name}
        contact_id = self._contact(outlet)
        try:
            sent = self.client.create_invoice(payload, contact_id, entry.idempotency_key)
        except XeroRejected as exc:
            sent = self._already_made(payload, exc)
        if self.after_send is not None:
            self.after_send(entry)
        now = utcnow()
        with self.sessions() as s:
            s.execute(
                update(InvoiceRow).where(InvoiceRow.id == entry.invoice_id).values(
                    external_id=sent.invoice_id, external_number=sent.invoice_number,
                    delivery_status="sent", sent_at=now, delivery_error=None,
                )
            )
            self._mark(s, entry, "done", now)
            s.commit()
        log.info("invoice %s sent to Xero as %s", payload["invoice_number"], sent.invoice_number)

    def _already_made(self, payload: dict, exc: XeroRejected):
        """Xero refuses a second invoice with our number. If the one it has is this
        order's (an earlier attempt whose answer was lost beyond the Idempotency-Key's
        reach), that is the invoice: record it. Otherwise the rejection stands."""
        if not any("must be unique" in r for r in exc.reasons):
            raise exc
        found = self.client.find_invoice(payload["invoice_number"])
        if found is None or found[1] != payload["reference"]:
            raise exc
        log.warning("invoice %s was already in Xero; recording it", payload["invoice_number"])
        return found[0]

    def _contact(self, outlet: dict) -> str:
        """The outlet's Xero contact: stored, else found by ContactNumber, else created
        with an Idempotency-Key of its own, so two workers make one contact."""
        with self.sessions() as s:
            known = s.get(XeroContactRow, outlet["customer_id"])
            if known is not None:
                return known.contact_id
        contact_id = self.client.find_contact(outlet["customer_id"]) or self.client.create_contact(
            outlet, f"tria-contact-{outlet['customer_id']}"
        )
        with self.sessions() as s:
            if s.get(XeroContactRow, outlet["customer_id"]) is None:
                s.add(XeroContactRow(customer_id=outlet["customer_id"], contact_id=contact_id, created_at=utcnow()))
                try:
                    s.commit()
                except Exception:
                    s.rollback()  # another worker stored the same contact first
        return contact_id

    def _void(self, entry: OutboxRow) -> None:
        with self.sessions() as s:
            _order, invoice = self._load(s, entry)
            external_id = invoice.external_id
            create = s.scalar(
                select(OutboxRow).where(OutboxRow.order_id == entry.order_id, OutboxRow.kind == "create_invoice")
            )
        if external_id is None:
            now = utcnow()
            with self.sessions() as s:
                # Stop the create entry, unless a worker holds it right now.
                free = or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until < now)
                stopped = s.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == create.id)
                    .where(or_(OutboxRow.status.in_(("failed", "cancelled")), and_(OutboxRow.status == "pending", free)))
                    .values(status="cancelled", updated_at=now, lease_owner=None, lease_until=None)
                ).rowcount
                if stopped:
                    s.execute(update(InvoiceRow).where(InvoiceRow.id == entry.invoice_id).values(delivery_status="cancelled"))
                    self._mark(s, entry, "done", now, note="never sent to Xero")
                    s.commit()
                    return
            # Being sent at this moment: come back once that worker has finished.
            raise XeroTransient("the invoice is being sent; voiding after", retry_after=5)
        status = self.client.void_invoice(external_id, entry.idempotency_key)
        now = utcnow()
        with self.sessions() as s:
            s.execute(update(InvoiceRow).where(InvoiceRow.id == entry.invoice_id).values(
                delivery_status="voided", delivery_error=None))
            self._mark(s, entry, "done", now, note=f"Xero invoice {status}")
            s.commit()

    # --- recording -----------------------------------------------------------
    @staticmethod
    def _mark(s, entry: OutboxRow, status: str, now: datetime, note: str | None = None) -> None:
        s.execute(
            update(OutboxRow).where(OutboxRow.id == entry.id).values(
                status=status, lease_owner=None, lease_until=None, updated_at=now,
                attempts=OutboxRow.attempts + 1, last_error=note,
            )
        )

    def _finish(self, entry: OutboxRow, status: str, invoice_status: str | None = None) -> None:
        with self.sessions() as s:
            if invoice_status:
                s.execute(update(InvoiceRow).where(InvoiceRow.id == entry.invoice_id).values(delivery_status=invoice_status))
            self._mark(s, entry, status, utcnow())
            s.commit()

    def _reschedule(self, entry: OutboxRow, error: str, delay: float) -> None:
        now = utcnow()
        log.warning("outbox entry %s (%s): %s; retry in %.1f s", entry.id, entry.idempotency_key, error, delay)
        with self.sessions() as s:
            s.execute(
                update(OutboxRow).where(OutboxRow.id == entry.id, OutboxRow.status == "pending").values(
                    attempts=OutboxRow.attempts + 1, last_error=error, lease_owner=None, lease_until=None,
                    next_attempt_at=now + timedelta(seconds=delay), updated_at=now,
                )
            )
            if entry.kind == "create_invoice":
                s.execute(update(InvoiceRow).where(InvoiceRow.id == entry.invoice_id, InvoiceRow.delivery_status == "not_sent").values(delivery_error=error))
            s.commit()

    def _rejected(self, entry: OutboxRow, exc: XeroRejected) -> None:
        """Xero refused it: keep its reasons, stop retrying, and tell the billing team."""
        now = utcnow()
        reason = str(exc)
        log.error("Xero rejected %s: %s", entry.idempotency_key, reason)
        with self.sessions() as s:
            order, invoice = self._load(s, entry)
            invoice.delivery_status = "rejected" if entry.kind == "create_invoice" else invoice.delivery_status
            invoice.delivery_error = f"Xero rejected the {entry.kind.replace('_', ' ')}: {reason}"
            self._mark(s, entry, "failed", now, note=reason)
            add_escalation(s, NewEscalation(
                customer_id=order.customer_id, session_id="", level=XERO_REJECTED_LEVEL, kind="xero_rejected",
                reason=f"Xero rejected the {entry.kind.replace('_', ' ')} for order {order.number}",
                message=reason, details={"order_number": order.number, "invoice_number": invoice.number,
                                         "idempotency_key": entry.idempotency_key, "reasons": exc.reasons},
                created_at=now,
            ))
            s.commit()
