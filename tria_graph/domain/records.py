"""The records a conversation carries: drafts, orders, invoices, escalations.

They are TypedDicts on purpose: the conversation state is checkpointed after every
turn, and plain dicts of str, int, Decimal and date serialize without custom types
(LangGraph's serializer warns about, and in strict mode refuses, classes it does not
know). The types still give one definition of each record, checked by type checkers,
and the API schemas validate and document the same types.

Amounts are Decimal (SGD, two places); dates are `date`, times timezone-aware.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

# typing_extensions, not typing: pydantic validates these in the API schemas and needs
# its TypedDict on Python 3.11.
from typing_extensions import NotRequired, TypedDict

DraftStatus = Literal[
    "awaiting_confirmation",  # priced and clean: waits for "yes"
    "needs_changes",  # unknown items, missing quantities or stock problems
    "held_for_review",  # an anomaly: escalated, never placed by the bot
    "placed",  # the order was written
    "cancelled",  # the customer said no
]
# Drafts still open to the customer's changes.
OPEN_DRAFT: tuple[DraftStatus, ...] = ("awaiting_confirmation", "needs_changes")
# Drafts that leave the state once the turn is answered (the order or escalation keeps them).
FINISHED_DRAFT: tuple[DraftStatus, ...] = ("placed", "cancelled", "held_for_review")

OrderStatus = Literal["pending", "confirmed", "out_for_delivery", "delivered", "cancelled"]
InvoiceStatus = Literal[
    "local",  # demo history: never goes to Xero
    "not_sent", "sent", "rejected", "cancelled", "void_pending", "voided",
]
# Why an order's invoice cannot be given (replies.py words each).
InvoiceProblem = Literal[
    "order_not_found",  # no such order on this account
    "not_invoiceable",  # the order's status carries no invoice
    "rejected",  # Xero refused it; billing has been alerted
    "withdrawn",  # the order was cancelled, its invoice voided
    "pending",  # on its way to Xero: ask again in a minute
]
EscalationLevel = Literal["L1", "L2", "L3", "L4"]
EscalationKind = Literal["complaint", "anomaly", "xero_rejected"]
# The customer's answer to a pending draft.
Answer = Literal["yes", "no", "change", "other"]


class OrderLine(TypedDict):
    sku: str
    name: str
    unit: str
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class Problem(TypedDict):
    """Why a draft line cannot be ordered as it is (replies.py words it)."""

    kind: Literal["no_quantity", "below_minimum", "out_of_stock", "short_stock"]
    sku: str
    name: str
    unit: str
    quantity: int | None
    minimum: int
    stock: int


class Anomaly(TypedDict):
    """Why an order must be reviewed by a person before it is placed."""

    rule: Literal["over_any_limit", "first_order_limit", "over_usual"]
    value: Decimal  # the order's subtotal
    limit: Decimal  # the limit it passed
    multiple: NotRequired[float]  # over_usual: the allowed multiple of the usual value
    usual: NotRequired[Decimal]  # over_usual: the usual order value


class Draft(TypedDict):
    draft_id: str
    status: DraftStatus
    lines: list[OrderLine]
    unknown: list[str]  # the customer's words that matched no product
    problems: list[Problem]
    subtotal: Decimal
    gst: Decimal
    total: Decimal
    tax_rate: Decimal
    delivery_date: date
    requested_day: str | None
    # Why the delivery day is not the one the customer may expect.
    day_note: Literal["not_a_delivery_day", "cutoff_passed"] | None
    anomalies: list[Anomaly]
    order_number: NotRequired[str]  # once placed


class Order(TypedDict):
    number: str
    status: OrderStatus
    created_at: datetime
    delivery_date: date
    subtotal: Decimal
    gst: Decimal
    total: Decimal
    lines: list[OrderLine]
    invoice_number: str | None


class InvoiceLine(TypedDict):
    sku: str
    description: str
    quantity: int
    unit_amount: Decimal
    line_amount: Decimal


class Invoice(TypedDict):
    number: str
    order_number: str
    issued_on: date
    due_on: date
    subtotal: Decimal
    gst: Decimal
    total: Decimal
    status: InvoiceStatus
    xero_invoice_id: str | None
    lines: list[InvoiceLine]


class Escalation(TypedDict):
    reference: str
    level: EscalationLevel
    kind: EscalationKind
    reason: str
    due_at: datetime


class Outlet(TypedDict):
    customer_id: str
    name: str
    contact_name: str | None
    usual_order_value: Decimal


class Source(TypedDict):
    document: str
    section: str
