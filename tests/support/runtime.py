"""A fake LangGraph runtime for node unit tests: no services, no embedding model.

LangGraph calls a node as `node(state, runtime)` and the node reads its parts from
`runtime.context`. Here the context holds stand-ins for the parts that would need a
model or a server (a classifier that always says the same intent, a knowledge base
that returns given passages) and the real in-memory ones (the catalogue from
tria_graph/data/catalog.csv with the real CatalogMatcher, a memory cache, the demo
clock), and in-memory stores with the real stores' methods and records (orders and
outlets, escalations, invoices).

    ctx = fake_context(classifier=FixedClassifier("order_status", 0.93))
    update = classify({"message": "where is my order"}, FakeRuntime(ctx))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from tria_graph.adapters.cache import MemoryCache, ttls
from tria_graph.adapters.invoices import InvoiceError
from tria_graph.config import Settings
from tria_graph.context import Context
from tria_graph.demo_data import Clock, catalog_products
from tria_graph.domain.catalog import CatalogMatcher, Product
from tria_graph.domain.escalation import NewEscalation, escalation_reference
from tria_graph.domain.orders import order_number


@dataclass
class FakeRuntime:
    """What a node receives as `runtime`: only `.context` is read."""

    context: Any


class FixedClassifier:
    """The intent classifier, always answering (intent, confidence); it records the texts."""

    version = "fixed-classifier"

    def __init__(self, intent: str = "greeting", confidence: float = 0.95) -> None:
        self.intent = intent
        self.confidence = confidence
        self.texts: list[str] = []

    def predict(self, text: str) -> tuple[str, float]:
        self.texts.append(text)
        return self.intent, self.confidence

    def predict_many(self, texts) -> list[tuple[str, float]]:
        return [self.predict(t) for t in texts]


def passage(document: str, section: str, text: str, score: float = 0.9) -> dict:
    """One knowledge-base hit, as PolicyKB.search returns it."""
    return {"document": document, "section": section, "text": text, "score": score}


class StaticPolicyKB:
    """The policy knowledge base, returning the given passages (best first) for any query."""

    version = "static-kb"

    def __init__(self, passages: list[dict] | None = None) -> None:
        self.passages = list(passages or [])
        self.queries: list[str] = []

    def search(self, query: str, k: int = 4) -> list[dict]:
        self.queries.append(query)
        return [dict(p) for p in self.passages[:k]]


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


@cache
def products() -> tuple[Product, ...]:
    """The catalogue (tria_graph/data/catalog.csv) as domain products."""
    return tuple(catalog_products())


def catalog() -> CatalogMatcher:
    """The real matcher over the catalogue."""
    return CatalogMatcher(list(products()))


def unit_settings(**overrides) -> Settings:
    """Settings with the defaults (no .env file), plus `overrides` by their env names."""
    return Settings(_env_file=None, **overrides)


def fake_context(
    *,
    settings: Settings | None = None,
    classifier: FixedClassifier | None = None,
    policy_kb: StaticPolicyKB | None = None,
    orders: Any = None,
    escalations: Any = None,
    invoices: Any = None,
    clock: Clock | None = None,
    llm: Any = None,
) -> Context:
    """A Context of stand-ins and in-memory parts (see the module docstring)."""
    settings = settings or unit_settings()
    return Context(
        settings=settings,
        orders=orders or FakeOrders(),
        escalations=escalations or FakeEscalations(),
        invoices=invoices or FakeInvoices(),
        policy_kb=policy_kb or StaticPolicyKB(),
        classifier=classifier or FixedClassifier(),
        catalog=catalog(),
        clock=clock or Clock(),
        cache=MemoryCache(ttls(settings)),
        llm=llm,
    )
