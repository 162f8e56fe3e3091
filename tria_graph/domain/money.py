"""Money: SGD amounts as Decimal, rounded half-up to cents."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    """SGD 1,234.50"""
    return f"SGD {to_money(amount):,.2f}"
