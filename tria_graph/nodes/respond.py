"""Write the turn's reply from the state (deterministic templates, see replies.py)."""

from __future__ import annotations

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from .. import replies
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
        return replies.policy_answer(
            message, state.get("passages", []), state.get("entities", {}), ctx.settings, ctx.now()
        )
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
