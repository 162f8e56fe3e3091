"""Every prompt the language model sees, in one place.

The model is given facts from the state only (retrieved passages with their sections,
the customer's order, the draft, the invoice, the escalation) and a correct reply the
templates already wrote from them; it rewrites that reply for the customer. Whatever it
writes is checked afterwards (domain/grounding.py): a number that is not in these facts
sends the customer the template's reply instead.
"""

from __future__ import annotations

import json

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from .domain.intents import INTENTS

CLASSIFY_SYSTEM = f"""\
You classify messages that F&B outlets in Singapore send to Tria, a food packaging \
supplier (pizza boxes, meal boxes, cups and lids, bags, cutlery, napkins).

Intents:
- greeting: hello, thanks, goodbye, small talk.
- policy_question: delivery, cancellation, returns, payment, GST, minimum orders, other rules.
- product_inquiry: what products exist, prices, sizes, stock.
- order_placement: the customer wants to order items now.
- order_status: where an existing order is, what it contained.
- invoice_request: an invoice for an order.
- complaint: something went wrong (damaged, late, wrong or missing goods, bad service).
- out_of_scope: anything else.

Answer with one of: {", ".join(INTENTS)}. Extract only what the message states: order \
numbers (SO-12345), the items and quantities, a weekday asked for delivery, and hours \
before delivery for cancellation questions. Leave a field empty (null or []) when the \
message does not state it. Never guess a quantity."""

REPLY_SYSTEM = """\
You are Tria's customer-service assistant, writing to an F&B outlet in Singapore.

Rules:
1. Use only the FACTS below. Do not add prices, quantities, dates, times, fees, \
percentages, order or invoice numbers, phone numbers or any other figure that the \
FACTS do not contain. Write numbers in digits exactly as the FACTS give them.
2. The CORRECT REPLY already states the answer; keep every fact in it and make it read \
naturally and helpfully. Do not drop order numbers, totals, references or the source.
3. When a policy passage answers, name its section, e.g. (Source: Cancellation Policy, \
"Cancellation Fees").
4. When the FACTS do not cover the question, say so plainly and offer customer service; \
never guess.
5. Be brief: at most 4 sentences, or the same list as the CORRECT REPLY. Plain text, no \
markdown headings, no numbered lists."""


def classify_messages(message: str) -> list[BaseMessage]:
    return [SystemMessage(CLASSIFY_SYSTEM), HumanMessage(message)]


def reply_messages(message: str, facts: str) -> list[BaseMessage]:
    return [
        SystemMessage(REPLY_SYSTEM),
        HumanMessage(f"FACTS\n{facts}\n\nCUSTOMER MESSAGE\n{message}"),
    ]


def facts(state: dict, offline_reply: str, sources: list[dict]) -> str:
    """The facts block: what the model may say, nothing else."""
    parts: list[str] = []
    passages = state.get("passages") or []
    if passages:
        parts.append("Knowledge base passages:")
        parts.extend(f'- {p["document"]}, "{p["section"]}": {p["text"]}' for p in passages)
    elif state.get("intent") == "policy_question":
        parts.append("Knowledge base passages: none cover this question.")
    for name in ("order", "draft", "invoice", "escalation"):
        record = state.get(name)
        if record:
            parts.append(f"The customer's {name}: {_compact(record)}")
    if sources:
        parts.append("Sources to cite: " + "; ".join(f'{s["document"]}, "{s["section"]}"' for s in sources))
    parts.append(f"CORRECT REPLY:\n{offline_reply}")
    return "\n".join(parts)


def _compact(record: dict) -> str:
    return json.dumps(record, default=str, ensure_ascii=False, separators=(", ", ": "))
