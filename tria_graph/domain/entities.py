"""Facts pulled out of a customer message: order numbers, days, hours, outlet ids.

Products and quantities come from `catalog.CatalogMatcher`; this module holds the
patterns that need no catalog.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from .delivery import WEEKDAYS

_ORDER_NUMBER = re.compile(r"\bSO\s*-?\s*(\d{4,6})\b", re.I)
_INVOICE_NUMBER = re.compile(r"\bINV-\d{4}-\d{5}\b", re.I)
_OUTLET_ID = re.compile(r"\bOUT\s*-?\s*(\d{3})\b", re.I)
_HOURS = re.compile(r"(\d+(?:\.\d+)?)\s*(hours?|hrs?|h)\b", re.I)
_DAYS = re.compile(r"(\d+(?:\.\d+)?)\s*(days?)\b", re.I)
_DAY_NAMES = {
    **{d.lower(): d for d in WEEKDAYS},
    **{d[:3].lower(): d for d in WEEKDAYS},
    "tues": "Tuesday", "thurs": "Thursday", "thur": "Thursday", "weds": "Wednesday",
}
_WEEKDAY = re.compile(r"\b(" + "|".join(sorted(_DAY_NAMES, key=len, reverse=True)) + r")\b", re.I)
_TOMORROW = re.compile(r"\b(tomorrow|tmr|tmrw|tml)\b", re.I)


def order_numbers(text: str) -> list[str]:
    seen: list[str] = []
    for digits in _ORDER_NUMBER.findall(text):
        number = f"SO-{digits}"
        if number not in seen:
            seen.append(number)
    return seen


def invoice_numbers(text: str) -> list[str]:
    return [m.upper() for m in _INVOICE_NUMBER.findall(text)]


def outlet_ids(text: str) -> list[str]:
    return sorted({f"OUT-{d}" for d in _OUTLET_ID.findall(text)})


def requested_weekday(text: str, today: date) -> str | None:
    """A delivery day the customer asked for, as a weekday name."""
    match = _WEEKDAY.search(text)
    if match:
        return _DAY_NAMES[match.group(1).lower()]
    if _TOMORROW.search(text):
        return WEEKDAYS[(today + timedelta(days=1)).weekday()]
    return None


def hours_mentioned(text: str) -> float | None:
    """'6 hours before', '2 days before' -> hours, for cancellation questions."""
    match = _HOURS.search(text)
    if match:
        return float(match.group(1))
    match = _DAYS.search(text)
    if match:
        return float(match.group(1)) * 24
    return None
