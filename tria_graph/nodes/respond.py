"""Write the turn's reply from the state.

The deterministic templates (replies.py) always write it first: that is the whole reply
in the offline mode, and the fallback otherwise. With a language model, one more call
rewrites it for the intents where wording matters (`MODEL_WRITES`), given only the
facts in the state (prompts.py). The model's text is used only if every number in it is
in those facts (domain/grounding.py); it cites the source section or gets it appended.
Order summaries to confirm, placed orders and refusals stay templates, word for word.
"""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from .. import prompts, replies
from ..adapters.cache import RESPONSE, cache_key
from ..adapters.llm import ModelUnavailable
from ..context import Context
from ..domain import grounding
from ..domain.records import FINISHED_DRAFT
from ..metrics import GROUNDING_REJECTIONS
from ..state import State

# Intents whose reply the model may write.
MODEL_WRITES = frozenset(
    {"greeting", "policy_question", "product_inquiry", "order_status", "invoice_request", "complaint", "out_of_scope"}
)


async def respond(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    # Composing reads the database and the cache; the model call is one HTTP request
    # (its tokens still stream: the thread inherits the run's context).
    reply, sources, template_only = await asyncio.to_thread(_compose, state, ctx)
    update: dict = {}
    if not template_only and ctx.llm is not None and not state.get("degraded"):
        written, update = await asyncio.to_thread(_model_reply, state, ctx, reply, sources)
        reply = written or reply
    draft = state.get("draft")
    if draft and draft["status"] == "awaiting_confirmation" and state.get("intent") != "order_placement":
        reply += "\n" + replies.PENDING_REMINDER
    update.update(reply=reply, sources=sources, messages=[AIMessage(reply)])
    if draft and draft["status"] in FINISHED_DRAFT:
        # Finished drafts leave the state; the order or escalation record keeps them.
        update["draft"] = None
    return update


def _model_reply(state: State, ctx: Context, template: str, sources: list[dict]) -> tuple[str | None, dict]:
    """The model's rewrite of the template reply if it is grounded, and the counters."""
    facts = prompts.facts(state, template, sources)
    try:
        text, tokens = ctx.llm.write(prompts.reply_messages(state["message"], facts))
    except ModelUnavailable:
        return None, {"degraded": True}
    counters = {
        "llm_calls": state.get("llm_calls", 0) + 1,
        "llm_tokens": state.get("llm_tokens", 0) + tokens,
    }
    if grounding.unsupported_numbers(text, facts, state["message"]):
        GROUNDING_REJECTIONS.inc()
        return None, counters
    if not grounding.cites(text, sources):
        text += f" (Source: {replies.source_label(sources[0])}.)"
    return text, counters


def _compose(state: State, ctx: Context) -> tuple[str, list[dict], bool]:
    """The template reply, its sources, and whether it must be sent word for word."""
    draft = state.get("draft")
    answer = state.get("answer")
    if answer == "no" and draft:
        return replies.DRAFT_DROPPED, [], True
    if answer == "yes" and state.get("order"):
        return replies.placed_reply(state["order"], state.get("invoice"), state.get("invoice_error"), ctx.settings), [], True
    reply, sources = _for_intent(state, ctx)
    template_only = bool(state.get("blocked")) or state.get("intent") not in MODEL_WRITES
    return reply, sources, template_only


def _for_intent(state: State, ctx: Context) -> tuple[str, list[dict]]:
    if state.get("blocked"):
        return replies.refusal(state["blocked"]), []
    intent = state.get("intent")
    message = state["message"]
    if intent == "greeting":
        outlet = ctx.orders.outlet(state["customer_id"])
        return replies.greeting(message, outlet["contact_name"] if outlet else None), []
    if intent == "policy_question":
        return _policy_reply(state, ctx)
    if intent == "product_inquiry":
        products = {p.sku: p for p in ctx.orders.products()}
        return replies.product_answer(message, ctx.catalog, products, state.get("passages", []), ctx.settings.tax_rate)
    if intent == "order_status":
        return replies.order_status(state.get("order"), state.get("order_not_found")), []
    if intent == "invoice_request":
        if state.get("invoice"):
            return replies.invoice_text(state["invoice"], ctx.settings.payment_terms_days), []
        if state.get("order") is None or state.get("order_not_found"):
            return replies.order_status(state.get("order"), state.get("order_not_found")), []
        return replies.invoice_problem(state.get("invoice_error"), state["order"]), []
    if intent == "order_placement" and state.get("draft"):
        return replies.draft_reply(state["draft"], ctx.settings, state.get("escalation")), []
    if intent == "complaint" and state.get("escalation"):
        numbers = state.get("entities", {}).get("order_numbers") or []
        return replies.escalation_reply(state["escalation"], numbers[0] if numbers else None), []
    return replies.out_of_scope(), []


# The settings a policy answer's wording depends on: part of its cache key.
_POLICY_SETTINGS = {
    "retrieval_k", "retrieval_min_score", "order_cutoff", "delivery_days",
    "delivery_window_start", "delivery_window_end", "tax_rate", "payment_terms_days",
}


def _policy_reply(state: State, ctx: Context) -> tuple[str, list[dict]]:
    """A policy answer, from the response cache when it cannot depend on who asks or
    when: its key is the question, the knowledge base version and the settings."""
    message, entities = state["message"], state.get("entities", {})
    passages = state.get("passages", [])
    if replies.policy_answer_uses_clock(message, entities):
        return replies.policy_answer(message, passages, entities, ctx.settings, ctx.now())
    key = cache_key(
        "policy_answer",
        ctx.policy_kb.version,
        ctx.settings.model_dump_json(include=_POLICY_SETTINGS),
        message.strip().lower(),
    )
    cached = ctx.cache.get(RESPONSE, key)
    if cached is not None:
        return cached["reply"], cached["sources"]
    reply, sources = replies.policy_answer(message, passages, entities, ctx.settings, ctx.now())
    ctx.cache.set(RESPONSE, key, {"reply": reply, "sources": sources})
    return reply, sources
