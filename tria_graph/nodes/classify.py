"""Classify the message's intent and pull out its entities.

The offline classifier and the entity patterns always run. When a language model is
configured and the classifier is not confident (below LLM_CLASSIFY_BELOW), one
structured-output call classifies the message and extracts its entities together; the
patterns' entities stay, and the model's fill what they missed. If that call fails the
classifier's answer stands and the turn is marked degraded.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from langgraph.runtime import Runtime

from .. import prompts
from ..adapters.cache import INTENT, cache_key
from ..adapters.llm import Classification, ModelUnavailable
from ..context import Context
from ..domain import entities
from ..domain.delivery import WEEKDAYS
from ..state import State


async def classify(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    message = state["message"]
    # The embedding runs on the CPU and the cache may be Redis: off the event loop.
    intent, confidence = await asyncio.to_thread(predict_intent, message, ctx)
    update = {
        "intent": intent,
        "confidence": round(float(confidence), 4),
        "entities": extract_entities(message, ctx),
    }
    if ctx.llm is None or confidence >= ctx.settings.llm_classify_below:
        return update
    try:
        result, tokens = await asyncio.to_thread(ctx.llm.classify, prompts.classify_messages(message))
    except ModelUnavailable:
        return {**update, "degraded": True}
    return {
        **update,
        "intent": result.intent,
        "confidence": round(min(max(float(result.confidence), 0.0), 1.0), 4),
        "entities": with_model_entities(update["entities"], result, ctx),
        "llm_calls": state.get("llm_calls", 0) + 1,
        "llm_tokens": state.get("llm_tokens", 0) + tokens,
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


def with_model_entities(found: dict, result: Classification, ctx: Context) -> dict:
    """The patterns' entities, completed by the model's where the patterns found none.

    The model's values go through the same checks as the customer's words: order
    numbers must look like SO-12345, days must be weekdays, items must match the
    catalogue (unmatched ones are named back as unknown, as usual).
    """
    merged = dict(found)
    if not merged["order_numbers"]:
        merged["order_numbers"] = entities.order_numbers(" ".join(result.order_numbers))
    if merged["delivery_day"] is None and result.delivery_day:
        day = result.delivery_day.strip().capitalize()
        merged["delivery_day"] = day if day in WEEKDAYS else None
    if merged["hours_before"] is None and result.hours_before is not None and result.hours_before >= 0:
        merged["hours_before"] = float(result.hours_before)
    if not merged["products"] and result.items:
        text = ", ".join(
            f"{item.quantity} {item.description}" if item.quantity else item.description
            for item in result.items
        )
        match = ctx.catalog.match(text)
        merged["products"] = [asdict(item) for item in match.items]
        merged["unknown_items"] = match.unknown
    return merged
