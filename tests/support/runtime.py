"""A fake LangGraph runtime for node unit tests: no services, no embedding model.

LangGraph calls a node as `node(state, runtime)` and the node reads its parts from
`runtime.context`. Here the context holds stand-ins for the parts that would need a
model or a server (a classifier that always says the same intent, a knowledge base
that returns given passages) and the real in-memory ones (the catalogue from
tria_graph/data/catalog.csv with the real CatalogMatcher, a memory cache, the demo
clock). The repository and invoice gateway are whatever the test passes (None if unused).

    ctx = fake_context(classifier=FixedClassifier("order_status", 0.93))
    update = classify({"message": "where is my order"}, FakeRuntime(ctx))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from tria_graph.adapters.cache import MemoryCache, ttls
from tria_graph.config import Settings
from tria_graph.context import Context
from tria_graph.demo_data import Clock, catalog_products
from tria_graph.domain.catalog import CatalogMatcher, Product


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
    repository: Any = None,
    invoices: Any = None,
    clock: Clock | None = None,
    llm: Any = None,
) -> Context:
    """A Context of stand-ins and in-memory parts (see the module docstring)."""
    settings = settings or unit_settings()
    return Context(
        settings=settings,
        repository=repository,
        invoices=invoices,
        policy_kb=policy_kb or StaticPolicyKB(),
        classifier=classifier or FixedClassifier(),
        catalog=catalog(),
        clock=clock or Clock(),
        cache=MemoryCache(ttls(settings)),
        llm=llm,
    )
