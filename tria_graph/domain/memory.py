"""What a conversation remembers between turns, kept to a fixed size.

The checkpoint is rewritten every turn, so everything in it costs bytes and time on
every turn. It keeps the last few turns verbatim plus a small summary of facts carried
forward; the full conversation lives in the transcript table.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AnyMessage, RemoveMessage
from typing_extensions import TypedDict

MAX_ORDERS_REMEMBERED = 5


class Summary(TypedDict):
    turns: int
    intents: dict[str, int]  # intent -> how many turns had it
    orders: list[str]  # the most recent order numbers mentioned


def messages_to_forget(messages: Sequence[AnyMessage], keep_turns: int) -> list[RemoveMessage]:
    """Removals for every message older than the last `keep_turns` turns (two each)."""
    excess = len(messages) - 2 * keep_turns
    return [RemoveMessage(id=m.id) for m in messages[:excess]] if excess > 0 else []


def carry_forward(summary: Summary | None, intent: str, order_numbers: Sequence[str]) -> Summary:
    """The summary after one more turn: turn count, intents seen, recent order numbers."""
    previous = summary or Summary(turns=0, intents={}, orders=[])
    intents = dict(previous["intents"])
    intents[intent] = intents.get(intent, 0) + 1
    orders = [n for n in previous["orders"] if n not in order_numbers] + list(order_numbers)
    return Summary(turns=previous["turns"] + 1, intents=intents, orders=orders[-MAX_ORDERS_REMEMBERED:])
