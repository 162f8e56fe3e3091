"""Write the turn's reply from the state (deterministic templates, see replies.py)."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from .. import replies
from ..adapters.cache import RESPONSE, cache_key
from ..context import Context
from ..state import State


def respond(state: State, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    reply, sources = _compose(state, ctx)
    draft = state.get("draft")
    update: dict = {"reply": reply, "sources": sources, "messages": [AIMessage(reply)]}
    if draft and draft["status"] in ("placed", "cancelled", "held_for_review"):
        # Finished drafts leave the state; the order or escalation record keeps them.
        update["draft"] = None
    return update


def _compose(state: State, ctx: Context) -> tuple[str, list[dict]]:
    draft = state.get("draft")
    answer = state.get("answer")
    if answer == "no" and draft:
        return "OK, I've dropped that draft; nothing was ordered. Anything else?", []
    if answer == "yes" and state.get("order"):
        return replies.placed_reply(state["order"], state.get("invoice"), state.get("invoice_error")), []

    reply, sources = _for_intent(state, ctx)
    if draft and draft["status"] == "awaiting_confirmation" and state.get("intent") != "order_placement":
        reply += "\n" + replies.PENDING_REMINDER
    return reply, sources


def _for_intent(state: State, ctx: Context) -> tuple[str, list[dict]]:
    if state.get("blocked"):
        return replies.refusal(state["blocked"]), []
    intent = state.get("intent")
    message = state["message"]
    if intent == "greeting":
        outlet = ctx.repository.outlet(state["customer_id"]) or {}
        return replies.greeting(message, outlet.get("contact_name")), []
    if intent == "policy_question":
        return _policy_reply(state, ctx)
    if intent == "product_inquiry":
        products = {p.sku: p for p in ctx.repository.products()}
        return replies.product_answer(message, ctx.catalog, products, state.get("passages", []))
    if intent == "order_status":
        return replies.order_status(state.get("order"), state.get("order_not_found")), []
    if intent == "invoice_request":
        if state.get("invoice"):
            return replies.invoice_text(state["invoice"]), []
        if state.get("order") is None or state.get("order_not_found"):
            return replies.order_status(state.get("order"), state.get("order_not_found")), []
        return state.get("invoice_error") or "I couldn't get that invoice right now.", []
    if intent == "order_placement" and state.get("draft"):
        return replies.draft_reply(state["draft"], ctx.settings, state.get("escalation")), []
    if intent == "complaint" and state.get("escalation"):
        numbers = state.get("entities", {}).get("order_numbers") or []
        return replies.escalation_reply(state["escalation"], numbers[0] if numbers else None), []
    return replies.out_of_scope(), []


# The settings a policy answer's wording depends on: part of its cache key.
_POLICY_SETTINGS = {
    "retrieval_k", "retrieval_min_score", "order_cutoff", "delivery_days",
    "delivery_window_start", "tax_rate", "payment_terms_days",
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
