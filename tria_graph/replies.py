"""Deterministic replies: well-formed templates filled with facts from the state.

This is the whole reply writer when no language model is configured, and the
fallback when one fails, so every fact in a reply comes from the state: passages,
the order, the draft, the invoice or the escalation.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from .config import Settings
from .domain.catalog import CatalogMatcher, Product
from .domain.delivery import cancellation_fee_rate, next_delivery_date
from .domain.escalation import LEVELS
from .domain.money import fmt

CAPABILITIES = (
    "answer questions about our policies and products, check your orders, "
    "place new orders and send invoices"
)


def day(d: date) -> str:
    return f"{d:%A} {d.day} {d:%b %Y}"


def source_label(passage: dict) -> str:
    return f"{passage['document']}, \u201c{passage['section']}\u201d"


# --- greeting, refusal, out of scope ---------------------------------------------
def greeting(message: str, contact_name: str | None) -> str:
    text = message.lower()
    if re.search(r"\b(thank|thanks|thx|tq|ty)\b", text):
        return "You're welcome! Anything else I can help with?"
    if re.search(r"\b(bye|goodbye|see you|cya)\b", text):
        return "Goodbye, and thank you for ordering with Tria!"
    name = f" {contact_name.split()[0]}" if contact_name else ""
    return f"Hi{name}! I'm Tria's assistant. I can {CAPABILITIES}. How can I help?"


def out_of_scope() -> str:
    return (
        "Sorry, I can only help with Tria packaging: I can " + CAPABILITIES + ". "
        "For anything else, please contact our customer service team."
    )


def refusal(reason: str) -> str:
    if reason == "other_customer":
        return (
            "I can only discuss the orders, invoices and details of your own outlet, "
            "so I can't share anything about other outlets. Is there something about "
            "your own account I can help with?"
        )
    return (
        "I can't change how I work or share my instructions. I can "
        + CAPABILITIES
        + " for your outlet."
    )


# --- policies and products ------------------------------------------------------
def policy_answer(
    message: str, passages: list[dict], entities: dict, settings: Settings, now: datetime
) -> tuple[str, list[dict]]:
    """State the rule that answers the question and name its source section."""
    if not passages:
        return (
            "I couldn't find that in our policies, so I won't guess. Our customer service team "
            "can answer it, Monday to Saturday, 8:00 AM to 6:00 PM.",
            [],
        )
    text = message.lower()
    lines: list[str] = []
    quoted: list[dict] = []
    hours = entities.get("hours_before")
    if hours is not None and "cancel" in text:
        rate = cancellation_fee_rate(hours)
        if rate == 0:
            lines.append(f"Cancelling {hours:g} hours before delivery is free (it is 24 hours or more before the delivery window).")
        else:
            lines.append(f"Cancelling {hours:g} hours before delivery costs {rate * 100:.0f}% of the order value.")
        # Quote the general rule, not a worked example that repeats the computed line.
        quoted = [
            p for p in passages
            if "cancel" in p["document"].lower() and f"{hours:g} hour" not in p["text"]
        ][:1]
    elif _asks_when_delivered(text) and not entities.get("order_numbers"):
        delivery = next_delivery_date(now, settings.order_cutoff, settings.delivery_days)
        lines.append(
            f"An order placed now ({now:%a %-I:%M %p}) would be delivered on {day(delivery)}, "
            f"between {settings.delivery_window_start:%-I:%M %p} and 1:00 PM."
        )
    if not quoted:
        best = passages[0]
        quoted = [best]
        # The runner-up from the same section usually completes the rule.
        for other in passages[1:2]:
            if (other["document"], other["section"]) == (best["document"], best["section"]):
                quoted.append(other)
    lines.extend(p["text"] for p in quoted)
    reply = " ".join(lines) + f" (Source: {source_label(quoted[0])}.)"
    return reply, [{"document": p["document"], "section": p["section"]} for p in _dedupe(quoted)]


def policy_answer_uses_clock(message: str, entities: dict) -> bool:
    """Whether `policy_answer` would compute a date from the current time (such a
    reply must not be cached; every other policy answer depends only on the text)."""
    text = message.lower()
    asks_fee = entities.get("hours_before") is not None and "cancel" in text
    return not asks_fee and _asks_when_delivered(text) and not entities.get("order_numbers")


def _asks_when_delivered(text: str) -> bool:
    return bool(
        re.search(r"\b(when|which day|what day|how soon|how fast)\b", text)
        and re.search(r"\b(deliver|delivery|arrive|come|reach|get)\b", text)
    )


def product_answer(
    message: str, catalog: CatalogMatcher, products_now: dict[str, Product], passages: list[dict]
) -> tuple[str, list[dict]]:
    named = [products_now.get(p.sku, p) for p in catalog.find_products(message)]
    if not named:
        named = _category_products(message, list(products_now.values()))
    if named:
        rows = [_product_line(p) for p in named[:8]]
        more = f"\n(and {len(named) - 8} more)" if len(named) > 8 else ""
        reply = (
            "Here's what we have:\n" + "\n".join(rows) + more
            + "\nPrices are per unit, before 9% GST. Tell me the items and quantities to order."
        )
        return reply, [{"document": "Product Catalogue", "section": named[0].category.replace("_", " ").title()}]
    if passages:
        best = passages[0]
        return f"{best['text']} (Source: {source_label(best)}.)", [
            {"document": best["document"], "section": best["section"]}
        ]
    return "I couldn't find that product in our catalogue. We carry pizza boxes, meal boxes, cups and lids, bags, cutlery and napkins.", []


_CATEGORY_WORDS = {
    "pizza_box": r"pizza",
    "meal_box": r"meal box|meal boxes|takeaway box|food box|container|bento",
    "cup": r"\bcups?\b",
    "lid": r"\blids?\b",
    "bag": r"\bbags?\b",
    "cutlery": r"cutlery|fork|spoon|knife|knives|chopstick",
    "napkin": r"napkin|tissue|serviette",
}


def _category_products(message: str, products: list[Product]) -> list[Product]:
    text = message.lower()
    for category, pattern in _CATEGORY_WORDS.items():
        if re.search(pattern, text):
            return [p for p in products if p.category == category]
    return []


def _product_line(p: Product) -> str:
    stock = "in stock" if p.stock >= p.min_order_qty else ("out of stock" if p.stock == 0 else f"only {p.stock} left")
    return f"- {p.name} ({p.sku}): {fmt(p.price)} per {p.unit}, minimum {p.min_order_qty}, {stock}"


def _dedupe(passages: list[dict]) -> list[dict]:
    seen, out = set(), []
    for p in passages:
        key = (p["document"], p["section"])
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


# --- orders and invoices --------------------------------------------------------
def order_status(order: dict | None, not_found: str | None) -> str:
    if not_found:
        return (
            f"I couldn't find order {not_found} for your outlet. Please check the number"
            + (f"; your latest order is {order['number']}." if order else ".")
        )
    if order is None:
        return "You don't have any orders with us yet. Tell me the items and quantities and I'll draft your first order."
    status = order["status"].replace("_", " ")
    when = {
        "pending": f"scheduled for delivery on {day(order['delivery_date'])} once confirmed",
        "confirmed": f"scheduled for delivery on {day(order['delivery_date'])}",
        "out_for_delivery": f"on its way today ({day(order['delivery_date'])})",
        "delivered": f"delivered on {day(order['delivery_date'])}",
        "cancelled": f"it was due on {day(order['delivery_date'])}",
    }.get(order["status"], "")
    items = ", ".join(f"{line['quantity']} \u00d7 {line['name']}" for line in order["lines"])
    invoice = f" Invoice: {order['invoice_number']}." if order.get("invoice_number") else ""
    return (
        f"Order {order['number']} (placed {order['created_at']:%-d %b %Y}) is {status}: {when}. "
        f"Items: {items}. Total {fmt(order['total'])} incl. GST.{invoice}"
    )


def invoice_text(invoice: dict) -> str:
    return (
        f"Invoice {invoice['number']} for order {invoice['order_number']}: "
        f"subtotal {fmt(invoice['subtotal'])}, GST {fmt(invoice['gst'])}, "
        f"total {fmt(invoice['total'])}, issued {invoice['issued_on']:%-d %b %Y}, "
        f"due {invoice['due_on']:%-d %b %Y} (Net 30)."
    )


def draft_summary(draft: dict, settings: Settings) -> str:
    rows = [
        f"- {line['quantity']} \u00d7 {line['name']} @ {fmt(line['unit_price'])} = {fmt(line['line_total'])}"
        for line in draft["lines"]
    ]
    rate = f"{float(draft['tax_rate']) * 100:g}%"
    return "\n".join(
        rows
        + [
            f"Subtotal: {fmt(draft['subtotal'])}",
            f"GST {rate}: {fmt(draft['gst'])}",
            f"Total: {fmt(draft['total'])}",
            f"Delivery: {day(draft['delivery_date'])}, {settings.delivery_window_start:%-I:%M %p} to 1:00 PM",
        ]
    )


def draft_reply(draft: dict, settings: Settings, escalation: dict | None) -> str:
    status = draft["status"]
    if status == "awaiting_confirmation":
        note = f"\n{draft['day_note']}" if draft.get("day_note") else ""
        return (
            "Here's your order:\n" + draft_summary(draft, settings) + note
            + "\nReply \u201cyes\u201d to place it, \u201cno\u201d to cancel, or tell me what to change."
        )
    if status == "held_for_review" and escalation:
        level = LEVELS[escalation["level"]]
        return (
            "This order needs a quick review by our team before it is placed, because "
            + "; ".join(draft["anomalies"]) + ".\n" + draft_summary(draft, settings)
            + f"\nI've passed it to our {level.team} (reference {escalation['reference']}, "
            f"level {level.code}); they will contact you within {level.response_text} during business hours. "
            "Nothing has been ordered yet."
        )
    parts: list[str] = []
    if not draft["lines"] and not draft["unknown"]:
        return (
            "Sure! What would you like to order? Send the items and quantities, "
            "for example \u201c200 12 inch pizza boxes and 500 16oz cold cups\u201d."
        )
    if draft["unknown"]:
        parts.append(
            "I couldn't match these to our catalogue: "
            + "; ".join(f"\u201c{u}\u201d" for u in draft["unknown"])
            + ". Could you tell me the product name or size?"
        )
    parts.extend(draft["problems"])
    if draft["lines"]:
        parts.append("So far I have:\n" + draft_summary(draft, settings))
    parts.append("Send the corrected items and I'll update the order.")
    return "\n".join(parts)


def placed_reply(order: dict, invoice: dict | None, invoice_error: str | None) -> str:
    text = f"Done! Order {order['number']} is confirmed for delivery on {day(order['delivery_date'])}, total {fmt(order['total'])} incl. GST."
    if invoice:
        text += " " + invoice_text(invoice)
    elif invoice_error:
        text += " " + invoice_error
    return text


PENDING_REMINDER = (
    "Your draft order is still waiting: reply \u201cyes\u201d to place it or \u201cno\u201d to cancel."
)


def escalation_reply(escalation: dict, order_number: str | None) -> str:
    level = LEVELS[escalation["level"]]
    about = f" about order {order_number}" if order_number else ""
    text = (
        f"I'm sorry about this. I've passed your complaint{about} to our {level.team} "
        f"(reference {escalation['reference']}, level {level.code}); they will respond within "
        f"{level.response_text} during business hours."
    )
    if escalation["level"] == "L2":
        text += (
            " For damaged, wrong or missing goods, please send photos within 48 hours of delivery; "
            "replacements go out on the next delivery day."
        )
    return text
