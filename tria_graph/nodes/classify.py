"""Classify the message's intent and pull out its entities."""

from __future__ import annotations

from dataclasses import asdict

from langgraph.runtime import Runtime

from ..context import Context
from ..domain import entities
from ..state import State


def classify(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    intent, confidence = ctx.classifier.predict(state["message"])
    return {
        "intent": intent,
        "confidence": round(float(confidence), 4),
        "entities": extract_entities(state["message"], ctx),
    }


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
