"""Every customer-facing word: well-formed templates filled with facts from the state.

This is the whole reply writer when no language model is configured, and the
fallback when one fails, so every fact in a reply comes from the state: passages,
the order, the draft, the invoice or the escalation. Nodes, domain rules and adapters
hand over codes and records; the words are here, and the business values they quote
(GST rate, payment terms, delivery window, cutoff) come from the settings.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from .config import Settings
from .domain.catalog import CatalogMatcher, Product
from .domain.delivery import cancellation_fee_rate, next_delivery_date
from .domain.escalation import LEVELS, Level
from .domain.money import fmt
from .domain.records import Anomaly, Draft, Escalation, Invoice, InvoiceProblem, Order, Problem

CAPABILITIES = (
    "answer questions about our policies and products, check your orders, "
    "place new orders and send invoices"
)


def day(d: date) -> str:
    return f"{d:%A} {d.day} {d:%b %Y}"


def source_label(passage: dict) -> str:
    return f"{passage['document']}, \u201c{passage['section']}\u201d"


def clock_time(t) -> str:
    """9:00 AM"""
    return f"{t:%-I:%M %p}"


def percent(rate) -> str:
    """0.09 -> 9%"""
    return f"{float(rate) * 100:g}%"


def delivery_window(settings: Settings) -> str:
    return f"{clock_time(settings.delivery_window_start)} to {clock_time(settings.delivery_window_end)}"


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
            f"between {clock_time(settings.delivery_window_start)} and {clock_time(settings.delivery_window_end)}."
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
    message: str, catalog: CatalogMatcher, products_now: dict[str, Product], passages: list[dict], tax_rate: float
) -> tuple[str, list[dict]]:
    named = [products_now.get(p.sku, p) for p in catalog.find_products(message)]
    if not named:
        named = _category_products(message, list(products_now.values()))
    if named:
        rows = [_product_line(p) for p in named[:8]]
        more = f"\n(and {len(named) - 8} more)" if len(named) > 8 else ""
        reply = (
            "Here's what we have:\n" + "\n".join(rows) + more
            + f"\nPrices are per unit, before {percent(tax_rate)} GST. Tell me the items and quantities to order."
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
def order_status(order: Order | None, not_found: str | None) -> str:
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


def invoice_text(invoice: Invoice, payment_terms_days: int) -> str:
    return (
        f"Invoice {invoice['number']} for order {invoice['order_number']}: "
        f"subtotal {fmt(invoice['subtotal'])}, GST {fmt(invoice['gst'])}, "
        f"total {fmt(invoice['total'])}, issued {invoice['issued_on']:%-d %b %Y}, "
        f"due {invoice['due_on']:%-d %b %Y} (Net {payment_terms_days})."
    )


def invoice_problem(problem: InvoiceProblem | None, order: Order | None) -> str:
    """Why the order's invoice cannot be shown now."""
    number = order["number"] if order else ""
    if problem == "order_not_found":
        return f"I couldn't find order {number} on your account."
    if problem == "not_invoiceable" and order:
        status = order["status"]
        return f"Order {number} is {status.replace('_', ' ')}, so it has no invoice" + (
            " yet; the invoice is issued once the order is confirmed." if status == "pending" else "."
        )
    if problem == "rejected":
        return (
            f"There's a problem issuing the invoice for order {number}; our billing team "
            "has been alerted and will send it to you."
        )
    if problem == "withdrawn":
        return f"Order {number} was cancelled, so its invoice was withdrawn."
    if problem == "pending":
        return (
            f"Your invoice for order {number} is on its way from our accounts system; "
            f"ask me \u201csend me the invoice for order {number}\u201d in a minute and I'll give you its number."
        )
    return "I couldn't get that invoice right now."


def draft_summary(draft: Draft, settings: Settings) -> str:
    rows = [
        f"- {line['quantity']} \u00d7 {line['name']} @ {fmt(line['unit_price'])} = {fmt(line['line_total'])}"
        for line in draft["lines"]
    ]
    rate = percent(draft["tax_rate"])
    return "\n".join(
        rows
        + [
            f"Subtotal: {fmt(draft['subtotal'])}",
            f"GST {rate}: {fmt(draft['gst'])}",
            f"Total: {fmt(draft['total'])}",
            f"Delivery: {day(draft['delivery_date'])}, {delivery_window(settings)}",
        ]
    )


def day_note(draft: Draft, settings: Settings) -> str | None:
    """Why the delivery day is not the one the customer may expect."""
    if draft["day_note"] == "cutoff_passed":
        return (
            f"The delivery day is now {draft['delivery_date']:%A %-d %b} because the "
            f"{clock_time(settings.order_cutoff)} cutoff has passed."
        )
    if draft["day_note"] == "not_a_delivery_day":
        days = settings.delivery_days
        return (
            f"We don't deliver on {draft['requested_day']}; we deliver on "
            f"{', '.join(days[:-1])} and {days[-1]}."
        )
    return None


def problem_text(problem: Problem) -> str:
    name, quantity = problem["name"], problem["quantity"]
    if problem["kind"] == "no_quantity":
        return f"How many {name} would you like?"
    if problem["kind"] == "below_minimum":
        return f"{name}: the minimum order is {problem['minimum']} {problem['unit']}s (you asked for {quantity})."
    if problem["kind"] == "short_stock":
        return f"{name}: only {problem['stock']} in stock (you asked for {quantity})."
    return f"{name} is out of stock."


def anomaly_reasons(anomalies: list[Anomaly]) -> list[str]:
    """Why an order is held for review, one phrase per rule (also the escalation's reason)."""
    reasons = []
    for a in anomalies:
        if a["rule"] == "over_any_limit":
            reasons.append(f"the order value {fmt(a['value'])} is over {fmt(a['limit'])}")
        elif a["rule"] == "first_order_limit":
            reasons.append(f"a first order of {fmt(a['value'])} is over {fmt(a['limit'])}")
        else:
            reasons.append(
                f"the order value {fmt(a['value'])} is more than {a['multiple'] * 100:.0f}% "
                f"of your usual order value of {fmt(a['usual'])}"
            )
    return reasons


def draft_reply(draft: Draft, settings: Settings, escalation: Escalation | None) -> str:
    status = draft["status"]
    note_text = day_note(draft, settings)
    if status == "awaiting_confirmation":
        note = f"\n{note_text}" if note_text else ""
        return (
            "Here's your order:\n" + draft_summary(draft, settings) + note
            + "\nReply \u201cyes\u201d to place it, \u201cno\u201d to cancel, or tell me what to change."
        )
    if status == "held_for_review" and escalation:
        level = LEVELS[escalation["level"]]
        return (
            "This order needs a quick review by our team before it is placed, because "
            + "; ".join(anomaly_reasons(draft["anomalies"])) + ".\n" + draft_summary(draft, settings)
            + f"\nI've passed it to our {level.team} (reference {escalation['reference']}, "
            f"level {level.code}); they will contact you within {response_time(level)} during business hours. "
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
    parts.extend(problem_text(p) for p in draft["problems"])
    if draft["lines"]:
        parts.append("So far I have:\n" + draft_summary(draft, settings))
    parts.append("Send the corrected items and I'll update the order.")
    return "\n".join(parts)


def placed_reply(order: Order, invoice: Invoice | None, invoice_error: InvoiceProblem | None, settings: Settings) -> str:
    text = f"Done! Order {order['number']} is confirmed for delivery on {day(order['delivery_date'])}, total {fmt(order['total'])} incl. GST."
    if invoice:
        text += " " + invoice_text(invoice, settings.payment_terms_days)
    elif invoice_error:
        text += " " + invoice_problem(invoice_error, order)
    return text


DRAFT_DROPPED = "OK, I've dropped that draft; nothing was ordered. Anything else?"


PENDING_REMINDER = (
    "Your draft order is still waiting: reply \u201cyes\u201d to place it or \u201cno\u201d to cancel."
)


def response_time(level: Level) -> str:
    """4 hours, 1 hour, 30 minutes"""
    minutes = int(level.response_time.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return f"{hours} hour" + ("s" if hours > 1 else "")


def escalation_reply(escalation: Escalation, order_number: str | None) -> str:
    level = LEVELS[escalation["level"]]
    about = f" about order {order_number}" if order_number else ""
    text = (
        f"I'm sorry about this. I've passed your complaint{about} to our {level.team} "
        f"(reference {escalation['reference']}, level {level.code}); they will respond within "
        f"{response_time(level)} during business hours."
    )
    if escalation["level"] == "L2":
        text += (
            " For damaged, wrong or missing goods, please send photos within 48 hours of delivery; "
            "replacements go out on the next delivery day."
        )
    return text
