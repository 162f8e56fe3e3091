"""XeroInvoiceGateway: the InvoiceGateway when Xero is configured.

The local record comes first (LocalInvoiceGateway: the invoice row and its outbox
entry); then, if it has not gone out yet, the gateway asks the worker to send it now
and waits up to XERO_REPLY_WAIT seconds (3). In time: the reply gives Xero's invoice
number. Late: the customer hears it is on its way; the send goes on in the
background (or the worker's next poll finishes it), and asking again returns it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date

from sqlalchemy import select

from ..database import OrderRow
from ..invoices import InvoiceError, InvoicePending, LocalInvoiceGateway


class XeroInvoiceGateway:
    def __init__(self, local: LocalInvoiceGateway, worker, reply_wait: float = 3.0) -> None:
        self.local = local
        self.worker = worker
        self.reply_wait = reply_wait
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xero-reply")

    def status(self) -> str:
        """The circuit breaker's state for /health: closed, open or half-open."""
        return self.worker.client.circuit.current_state

    def invoice_for_order(self, customer_id: str, order_number: str, today: date) -> dict:
        invoice = self.local.invoice_for_order(customer_id, order_number, today)
        if invoice["status"] in ("sent", "local"):
            return invoice
        self._explain(invoice, order_number)
        with self.local.sessions() as s:
            order_id = s.scalar(select(OrderRow.id).where(OrderRow.customer_id == customer_id, OrderRow.number == order_number))
        deadline = time.monotonic() + self.reply_wait
        future = self._pool.submit(self.worker.deliver_order, order_id)
        try:
            future.result(timeout=self.reply_wait)
        except FutureTimeout:
            pass
        # The worker's poll may have claimed the entry first (deliver_order then returns
        # at once): watch the invoice until it is sent or the wait is over.
        while True:
            invoice = self.local.invoice_for_order(customer_id, order_number, today)
            if invoice["status"] == "sent":
                return invoice
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        self._explain(invoice, order_number)
        raise InvoicePending(
            f"Your invoice for order {order_number} is on its way from our accounts system; "
            f"ask me \u201csend me the invoice for order {order_number}\u201d in a minute and I'll give you its number."
        )

    @staticmethod
    def _explain(invoice: dict, order_number: str) -> None:
        if invoice["status"] == "rejected":
            raise InvoiceError(
                f"There's a problem issuing the invoice for order {order_number}; our billing team "
                "has been alerted and will send it to you."
            )
        if invoice["status"] in ("cancelled", "void_pending", "voided"):
            raise InvoiceError(f"Order {order_number} was cancelled, so its invoice was withdrawn.")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
