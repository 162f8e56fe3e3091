"""Checks of one case's turns and end state against what the dataset expects.

Each check is a `Check(name, passed, expected, actual)`; a case passes when every
check passes. Text checks are case-insensitive on whitespace-normalised text, and a
fact may list alternatives separated by "|" ("Net 30|30 days").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal

from .schema import EndState, Turn

# How a reply says no: the bot's refusal, "not found for your outlet" and out-of-scope
# templates all match, and so would a language model's usual wording.
REFUSAL = re.compile(
    r"\b(can(?:'|no)?t|can not|could(?:n't| not) find|only (?:help|discuss)|not able|unable|"
    r"won't|will not|sorry)\b",
    re.I,
)


@dataclass
class Check:
    name: str
    passed: bool
    expected: object = None
    actual: object = None

    def as_dict(self) -> dict:
        return asdict(self)


def norm(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.casefold().split())


def contains_fact(reply: str, fact: str) -> bool:
    """The reply states the fact (any of its "|" alternatives)."""
    reply_n = norm(reply)
    return any(norm(alt) in reply_n for alt in fact.split("|") if alt.strip())


def text_checks(reply: str, must_contain: list[str], must_not_contain: list[str], where: str = "") -> list[Check]:
    checks = [
        Check(f"{where}contains", contains_fact(reply, fact), fact, _excerpt(reply)) for fact in must_contain
    ]
    checks += [
        Check(f"{where}does_not_contain", not contains_fact(reply, text), text, _excerpt(reply))
        for text in must_not_contain
    ]
    return checks


def turn_checks(turn: Turn, result: dict, index: int) -> list[Check]:
    where = f"turn{index + 1}."
    checks: list[Check] = []
    if turn.intent is not None:
        checks.append(Check(f"{where}intent", result["intent"] == turn.intent, turn.intent, result["intent"]))
    if turn.pending_confirmation is not None:
        checks.append(
            Check(
                f"{where}pending_confirmation",
                bool(result["pending_confirmation"]) == turn.pending_confirmation,
                turn.pending_confirmation,
                bool(result["pending_confirmation"]),
            )
        )
    checks += text_checks(result["reply"], turn.must_contain, turn.must_not_contain, where)
    return checks


def source_key(source: dict) -> tuple[str, str]:
    return (str(source.get("document", "")).casefold(), str(source.get("section", "")).casefold())


def source_check(expected: list, returned: list[dict]) -> Check:
    wanted = [s.key() for s in expected]
    got = [source_key(s) for s in returned]
    return Check(
        "source",
        any(k in got for k in wanted),
        [f"{d} / {s}" for d, s in ((x.document, x.section) for x in expected)],
        [f"{s.get('document')} / {s.get('section')}" for s in returned],
    )


def refusal_check(reply: str, where: str = "") -> Check:
    return Check(f"{where}refused", REFUSAL.search(reply) is not None, "a refusal", _excerpt(reply))


def leak_check(leaks: list[str]) -> Check:
    return Check("no_leak", not leaks, [], leaks)


def end_state_checks(expect: EndState, rows: dict, check_dates: bool = True) -> list[Check]:
    """New orders (lines, subtotal, total, status, delivery date), invoices and escalations."""
    checks: list[Check] = []
    if expect.orders is not None:
        got = rows["orders"]
        checks.append(Check("end.orders.count", len(got) == len(expect.orders), len(expect.orders), len(got)))
        for i, (want, have) in enumerate(zip(expect.orders, got)):
            where = f"end.orders[{i}]."
            checks.append(Check(where + "lines", have["lines"] == want.lines, want.lines, have["lines"]))
            for name in ("subtotal", "total"):
                value = getattr(want, name)
                if value is not None:
                    checks.append(Check(where + name, Decimal(have[name]) == value, str(value), have[name]))
            if want.status is not None:
                checks.append(Check(where + "status", have["status"] == want.status, want.status, have["status"]))
            if want.delivery_date is not None and check_dates:
                checks.append(
                    Check(where + "delivery_date", have["delivery_date"] == str(want.delivery_date), str(want.delivery_date), have["delivery_date"])
                )
    if expect.invoices is not None:
        n = len(rows["invoices"])
        checks.append(Check("end.invoices.count", n == expect.invoices, expect.invoices, n))
    if expect.escalations is not None:
        got = rows["escalations"]
        checks.append(Check("end.escalations.count", len(got) == len(expect.escalations), len(expect.escalations), len(got)))
        for i, (want, have) in enumerate(zip(expect.escalations, got)):
            where = f"end.escalations[{i}]."
            checks.append(Check(where + "kind", have["kind"] == want.kind, want.kind, have["kind"]))
            if want.level is not None:
                checks.append(Check(where + "level", have["level"] == want.level, want.level, have["level"]))
    return checks


def _excerpt(reply: str, limit: int = 240) -> str:
    reply = " ".join(reply.split())
    return reply if len(reply) <= limit else reply[: limit - 1] + "\u2026"
