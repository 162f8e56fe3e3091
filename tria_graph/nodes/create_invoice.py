"""Get the invoice for the order in state, creating it on first request.

With Xero the gateway waits up to XERO_REPLY_WAIT seconds for Xero's number; past that
it raises InvoicePending, and the reply says the invoice is on its way."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from ..adapters.invoices import InvoiceError
from ..context import Context
from ..state import State


async def create_invoice(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    order = state["order"]
    try:
        invoice = await asyncio.to_thread(
            ctx.invoices.invoice_for_order, state["customer_id"], order["number"], ctx.now().date()
        )
    except InvoiceError as exc:
        return {"invoice": None, "invoice_error": exc.code}
    return {"invoice": invoice, "invoice_error": None, "order": {**order, "invoice_number": invoice["number"]}}
