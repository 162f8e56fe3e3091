"""Orders a person must review before they are placed.

Values compared are before GST (the Large Order Review policy says the same).
"""

from __future__ import annotations

from decimal import Decimal

from .money import fmt


def anomaly_reasons(
    subtotal: Decimal,
    usual_order_value: Decimal,
    has_previous_orders: bool,
    usual_multiple: float,
    first_order_limit: float,
    any_order_limit: float,
) -> list[str]:
    reasons: list[str] = []
    if subtotal > Decimal(str(any_order_limit)):
        reasons.append(f"the order value {fmt(subtotal)} is over {fmt(Decimal(str(any_order_limit)))}")
    if not has_previous_orders and subtotal > Decimal(str(first_order_limit)):
        reasons.append(
            f"a first order of {fmt(subtotal)} is over {fmt(Decimal(str(first_order_limit)))}"
        )
    if usual_order_value > 0 and subtotal > usual_order_value * Decimal(str(usual_multiple)):
        reasons.append(
            f"the order value {fmt(subtotal)} is more than {usual_multiple * 100:.0f}% "
            f"of your usual order value of {fmt(usual_order_value)}"
        )
    return reasons
