"""When an order is delivered and what cancelling it costs.

Rules (the Delivery and Cancellation policies state the same):
- Orders placed before the cutoff (2:00 PM Singapore time) count as placed today;
  at or after it they count as placed the next day.
- Delivery is on the first delivery day (Tue/Thu/Sat) strictly after that day.
- Hours before delivery are counted to the start of the delivery window.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday_index(name: str) -> int:
    return WEEKDAYS.index(name.capitalize())


def effective_order_date(placed_at: datetime, cutoff: time) -> date:
    """The day an order counts as placed on, given the daily cutoff."""
    if placed_at.time() >= cutoff:
        return placed_at.date() + timedelta(days=1)
    return placed_at.date()


def next_delivery_date(
    placed_at: datetime,
    cutoff: time,
    delivery_days: list[str],
    requested_weekday: str | None = None,
) -> date:
    """First delivery day after the effective order date.

    A requested weekday that is a delivery day moves the date to the first such
    weekday on or after the earliest possible date; any other request is ignored
    (the reply says why).
    """
    allowed = {weekday_index(d) for d in delivery_days}
    earliest = effective_order_date(placed_at, cutoff) + timedelta(days=1)
    while earliest.weekday() not in allowed:
        earliest += timedelta(days=1)
    if requested_weekday and weekday_index(requested_weekday) in allowed:
        target = weekday_index(requested_weekday)
        while earliest.weekday() != target:
            earliest += timedelta(days=1)
    return earliest


def hours_before_delivery(now: datetime, delivery_date: date, window_start: time) -> float:
    start = datetime.combine(delivery_date, window_start, tzinfo=now.tzinfo)
    return (start - now).total_seconds() / 3600


def cancellation_fee_rate(hours_before: float) -> Decimal:
    """Share of the order value charged for cancelling `hours_before` delivery."""
    if hours_before >= 24:
        return Decimal("0")
    if hours_before >= 12:
        return Decimal("0.25")
    return Decimal("0.50")
