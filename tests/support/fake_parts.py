"""In-memory stand-ins for the parts a Context holds, so node tests need no database,
no embedding model and no network. They keep the stores' method names and records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from tria_graph.adapters.cache import MemoryCache, ttls
from tria_graph.adapters.invoices import InvoiceError
from tria_graph.config import Settings
from tria_graph.context import Context
from tria_graph.demo_data import catalog_products
from tria_graph.domain.catalog import CatalogMatcher
from tria_graph.domain.escalation import NewEscalation, escalation_reference
from tria_graph.domain.orders import order_number

SGT = ZoneInfo("Asia/Singapore")
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)


class FakeOrders:
    def __init__(self) -> None:
        self._products = catalog_products()
        self.outlets = {
            "OUT-001": {"customer_id": "OUT-001", "name": "Mario's", "contact_name": "Mario Rossi",
                        "usual_order_value": Decimal("400")},
            "OUT-012": {"customer_id": "OUT-012", "name": "New", "contact_name": "Nia Tan",
                        "usual_order_value": Decimal("0")},
        }
        self.orders: dict[str, list[dict]] = {"OUT-001": [], "OUT-012": []}
        self.placed: list[tuple[str, dict]] = []

    def products(self):
        return list(self._products)

    def outlet(self, customer_id):
        return self.outlets.get(customer_id)

    def has_orders(self, customer_id):
        return bool(self.orders.get(customer_id))

    def order(self, customer_id, number):
        return next((o for o in self.orders.get(customer_id, []) if o["number"] == number), None)

    def latest_order(self, customer_id):
        mine = self.orders.get(customer_id, [])
        return mine[-1] if mine else None

    def place_order(self, customer_id, draft, placed_at):
        self.placed.append((customer_id, draft))
        order = {"number": order_number(len(self.placed)), "status": "confirmed", "created_at": placed_at,
                 "delivery_date": draft["delivery_date"], "subtotal": draft["subtotal"], "gst": draft["gst"],
                 "total": draft["total"], "lines": draft["lines"], "invoice_number": None}
        self.orders.setdefault(customer_id, []).append(order)
        return order


class FakeEscalations:
    def __init__(self, previous_complaints: int = 0) -> None:
        self.previous = previous_complaints
        self.created: list[NewEscalation] = []

    def complaints(self, customer_id):
        return self.previous

    def create(self, new: NewEscalation):
        self.created.append(new)
        return {"reference": escalation_reference(len(self.created)), "level": new.level, "kind": new.kind,
                "reason": new.reason, "due_at": new.due_at}


@dataclass
class FakeInvoices:
    fail_with: str | None = None
    asked: list = field(default_factory=list)

    def status(self):
        return "not_configured"

    def invoice_for_order(self, customer_id, number, today):
        self.asked.append((customer_id, number))
        if self.fail_with:
            raise InvoiceError(self.fail_with, number)
        return {"number": "INV-2026-00001", "order_number": number, "issued_on": today, "due_on": today,
                "subtotal": Decimal("1"), "gst": Decimal("0.09"), "total": Decimal("1.09"), "status": "local",
                "xero_invoice_id": None, "lines": []}


class FakeClassifier:
    version = "fake"

    def __init__(self, intent="greeting", confidence=0.9) -> None:
        self.intent, self.confidence = intent, confidence

    def predict(self, message):
        return self.intent, self.confidence


class FakeKB:
    version = "fake-kb"

    def __init__(self, passages=()) -> None:
        self.passages = list(passages)

    def search(self, message, k=4):
        return self.passages[:k]


def fake_context(tmp_path, **parts) -> Context:
    settings = parts.pop("settings", None) or Settings(VAR_DIR=str(tmp_path))
    defaults = dict(
        settings=settings, orders=FakeOrders(), escalations=FakeEscalations(), invoices=FakeInvoices(),
        policy_kb=FakeKB(), classifier=FakeClassifier(), catalog=CatalogMatcher(catalog_products()),
        clock=lambda: MONDAY_10AM, cache=MemoryCache(ttls(settings)),
    )
    return Context(**{**defaults, **parts})


def runtime(context: Context):
    """What LangGraph hands a node: an object whose `.context` is the Context."""
    return SimpleNamespace(context=context)
