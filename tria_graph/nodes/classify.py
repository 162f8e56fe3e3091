"""Classify the message's intent and pull out its entities."""

from __future__ import annotations

from dataclasses import asdict

from langgraph.runtime import Runtime

from ..adapters.cache import INTENT, cache_key
from ..context import Context
from ..domain import entities
from ..state import State


def classify(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    intent, confidence = predict_intent(state["message"], ctx)
    return {
        "intent": intent,
        "confidence": round(float(confidence), 4),
        "entities": extract_entities(state["message"], ctx),
    }


def predict_intent(message: str, ctx: Context) -> tuple[str, float]:
    """The classifier's answer, cached by model version and text (never by customer)."""
    key = cache_key(ctx.classifier.version, message.strip().lower())
    cached = ctx.cache.get(INTENT, key)
    if cached is not None:
        return cached[0], cached[1]
    intent, confidence = ctx.classifier.predict(message)
    ctx.cache.set(INTENT, key, [intent, float(confidence)])
    return intent, float(confidence)


def extract_entities(message: str, ctx: Context) -> dict:
    match = ctx.catalog.match(message)
    return {
        "order_numbers": entities.order_numbers(message),
        "outlet_ids": entities.outlet_ids(message),
        "products": [asdict(item) for item in match.items],
        "unknown_items": match.unknown,
        "delivery_day": entities.requested_weekday(message, ctx.now().date()),
        "hours_before": entities.hours_mentioned(message),
    }
