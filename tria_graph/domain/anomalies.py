"""Orders a person must review before they are placed (Large Order Review policy).

Values compared are before GST, as the policy says.
"""

from __future__ import annotations

from decimal import Decimal

from .records import Anomaly


def anomalies(
    subtotal: Decimal,
    usual_order_value: Decimal,
    has_previous_orders: bool,
    usual_multiple: float,
    first_order_limit: float,
    any_order_limit: float,
) -> list[Anomaly]:
    """Every review rule the order breaks (empty: it may be placed)."""
    found: list[Anomaly] = []
    any_limit = Decimal(str(any_order_limit))
    first_limit = Decimal(str(first_order_limit))
    if subtotal > any_limit:
        found.append(Anomaly(rule="over_any_limit", value=subtotal, limit=any_limit))
    if not has_previous_orders and subtotal > first_limit:
        found.append(Anomaly(rule="first_order_limit", value=subtotal, limit=first_limit))
    usual_limit = usual_order_value * Decimal(str(usual_multiple))
    if usual_order_value > 0 and subtotal > usual_limit:
        found.append(
            Anomaly(rule="over_usual", value=subtotal, limit=usual_limit, multiple=usual_multiple, usual=usual_order_value)
        )
    return found
