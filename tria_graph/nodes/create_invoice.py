"""Get the invoice for the order in state, creating it on first request.

With Xero the gateway waits up to 3 s for Xero's number; past that it raises
InvoicePending, whose message tells the customer the invoice is on its way."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..adapters.invoices import InvoiceError
from ..context import Context
from ..state import State


def create_invoice(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    order = state["order"]
    try:
        invoice = ctx.invoices.invoice_for_order(state["customer_id"], order["number"], ctx.now().date())
    except InvoiceError as exc:
        return {"invoice": None, "invoice_error": str(exc)}
    return {"invoice": invoice, "invoice_error": None, "order": {**order, "invoice_number": invoice["number"]}}
