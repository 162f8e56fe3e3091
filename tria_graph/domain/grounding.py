"""Grounding: a model-written reply may only state numbers the facts contain.

Prices, quantities, order and invoice numbers, dates, percentages and totals all
carry digits, so the check compares every number in the reply with the numbers in
the facts the model was given (and in the customer's own message, which it may
repeat). Numbers compare by value: "400", "400.00" and "SGD 400" agree; "1,250.5"
and "1250.50" agree. A number spelled out in words is not caught: the prompt asks
for digits.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Digits with optional thousands separators and decimals: 1,234.56 / 12 / 0.09.
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# "1. " or "2) " at the start of a line: list numbering, not a fact.
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s+", re.M)


def numbers(text: str) -> set[Decimal]:
    """Every number in the text, by value."""
    found: set[Decimal] = set()
    for token in _NUMBER.findall(text):
        try:
            found.add(Decimal(token.replace(",", "")).normalize())
        except InvalidOperation:  # pragma: no cover - the pattern only matches digits
            continue
    return found


def unsupported_numbers(reply: str, *facts: str) -> list[str]:
    """The numbers of `reply` that none of `facts` contains (empty: the reply is grounded)."""
    allowed: set[Decimal] = set()
    for text in facts:
        allowed |= numbers(text)
    body = _LIST_MARKER.sub("", reply)
    missing = []
    for token in _NUMBER.findall(body):
        if Decimal(token.replace(",", "")).normalize() not in allowed and token not in missing:
            missing.append(token)
    return missing


def cites(reply: str, sources: list[dict]) -> bool:
    """Whether the reply names one of the sections it was given (or needs none)."""
    if not sources:
        return True
    text = reply.lower()
    return any(s["section"].lower() in text for s in sources)
