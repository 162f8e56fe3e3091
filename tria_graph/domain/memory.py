"""What a conversation remembers between turns, kept to a fixed size.

The checkpoint is rewritten every turn, so everything in it costs bytes and time on
every turn. It keeps the last few turns verbatim plus a small summary of facts carried
forward; the full conversation lives in the transcript table.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AnyMessage, RemoveMessage

MAX_ORDERS_REMEMBERED = 5


def messages_to_forget(messages: Sequence[AnyMessage], keep_turns: int) -> list[RemoveMessage]:
    """Removals for every message older than the last `keep_turns` turns (two each)."""
    excess = len(messages) - 2 * keep_turns
    return [RemoveMessage(id=m.id) for m in messages[:excess]] if excess > 0 else []


def carry_forward(summary: dict | None, intent: str, order_numbers: Sequence[str]) -> dict:
    """The summary after one more turn: turn count, intents seen, recent order numbers."""
    summary = dict(summary or {})
    intents = dict(summary.get("intents", {}))
    intents[intent] = intents.get(intent, 0) + 1
    orders = [n for n in summary.get("orders", []) if n not in order_numbers] + list(order_numbers)
    return {
        "turns": summary.get("turns", 0) + 1,
        "intents": intents,
        "orders": orders[-MAX_ORDERS_REMEMBERED:],
    }
