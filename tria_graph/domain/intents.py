"""The intents a customer message can have."""

from typing import Literal, get_args

Intent = Literal[
    "greeting",
    "policy_question",
    "product_inquiry",
    "order_placement",
    "order_status",
    "invoice_request",
    "complaint",
    "out_of_scope",
]

INTENTS: tuple[str, ...] = get_args(Intent)
