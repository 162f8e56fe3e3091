"""XeroInvoiceGateway: the InvoiceGateway when Xero is configured.

The local record comes first (LocalInvoiceGateway: the invoice row and its outbox
entry); then, if it has not gone out yet, the gateway asks the worker to send it now
and waits up to XERO_REPLY_WAIT seconds (3). In time: the reply gives Xero's invoice
number. Late: InvoicePending (the customer hears it is on its way); the send goes on in
the background (or the worker's next poll finishes it), and asking again returns it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date

from ...domain.invoicing import WITHDRAWN
from ...domain.records import Invoice
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

    def invoice_for_order(self, customer_id: str, order_number: str, today: date) -> Invoice:
        invoice = self.local.invoice_for_order(customer_id, order_number, today)
        if invoice["status"] in ("sent", "local"):
            return invoice
        _raise_if_unavailable(invoice, order_number)
        order_id = self.local.order_id(customer_id, order_number)
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
        _raise_if_unavailable(invoice, order_number)
        raise InvoicePending(order_number)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _raise_if_unavailable(invoice: Invoice, order_number: str) -> None:
    if invoice["status"] == "rejected":
        raise InvoiceError("rejected", order_number)
    if invoice["status"] in WITHDRAWN:
        raise InvoiceError("withdrawn", order_number)
