"""Run loaded cases against a target: K trials each, N at a time, with a progress bar.

Single-turn cases (intent, policy) run first, then the stateful ones (scenarios and
adversarial cases), each in a fresh conversation whose new database rows are its
end state. The result of a run is a list of case results (plain dicts) that
`report.build_report` turns into metrics.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm import tqdm

from . import scoring
from .database import LeakIndex, marks, new_rows, resolve
from .schema import AdversarialCase, IntentCase, Loaded, PolicyCase, ScenarioCase

STATEFUL = ("scenario", "adversarial")


@dataclass
class RunResult:
    results: list[dict]
    duration_s: float
    cache: dict | None = None
    started_at: float = field(default_factory=time.time)


async def run_cases(
    cases: list[Loaded], target, trials: int = 1, concurrency: int = 4, progress: bool = True
) -> RunResult:
    started = time.perf_counter()
    await target.start()
    try:
        cache_before = await _cache(target)
        leak_index = await asyncio.to_thread(LeakIndex.load, target.reference_engine())
        jobs = [(c, t) for c in cases for t in range(trials)]
        single = [j for j in jobs if j[0].kind not in STATEFUL]
        stateful = [j for j in jobs if j[0].kind in STATEFUL]
        bar = tqdm(total=len(jobs), desc="tria-eval", unit="case", disable=not progress, leave=False)
        limit = asyncio.Semaphore(max(1, concurrency))
        customer_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        results: list[dict] = []

        async def one(loaded: Loaded, trial: int) -> None:
            async with limit:
                if target.serial_per_customer and loaded.kind in STATEFUL:
                    async with customer_locks[loaded.case.customer]:
                        result = await run_case(loaded, trial, target, leak_index)
                else:
                    result = await run_case(loaded, trial, target, leak_index)
            results.append(result)
            bar.update(1)

        for phase in (single, stateful):
            await asyncio.gather(*(one(c, t) for c, t in phase))
        bar.close()
        cache_after = await _cache(target)
    finally:
        await target.close()
    order = {(c.id, t): i for i, (c, t) in enumerate(jobs)}
    results.sort(key=lambda r: order[(r["id"], r["trial"])])
    return RunResult(results, round(time.perf_counter() - started, 2), _cache_delta(cache_before, cache_after))


async def _cache(target) -> dict | None:
    if hasattr(target, "fetch_cache_counters"):
        return await target.fetch_cache_counters()
    return target.cache_counters()


def _cache_delta(before: dict | None, after: dict | None) -> dict | None:
    if after is None:
        return None
    before = before or {"hits": 0.0, "misses": 0.0}
    return {k: after[k] - before.get(k, 0.0) for k in ("hits", "misses")}


async def run_case(loaded: Loaded, trial: int, target, leak_index: LeakIndex) -> dict:
    case = loaded.case
    result = {
        "id": case.id,
        "dataset": loaded.dataset,
        "kind": case.kind,
        "category": getattr(case, "category", None),
        "where": f"{loaded.path}:{loaded.line}",
        "customer": case.customer,
        "trial": trial,
        "turns": [],
        "checks": [],
        "end_state": None,
        "leaks": [],
        "error": None,
        "expected": expected_summary(case),
    }
    isolated = case.kind in STATEFUL
    now = getattr(case, "clock", None)
    try:
        async with target.conversation(case.id, case.customer, trial, isolated, now) as convo:
            engine = convo.engine
            before = await asyncio.to_thread(marks, engine) if isolated else None
            turns = case.turns if hasattr(case, "turns") else None
            messages = [t.message for t in turns] if turns else [case.message]
            said = []
            for message in messages:
                text = await asyncio.to_thread(resolve, message, engine, case.customer)
                said.append(text)
                turn = await convo.send(text)
                result["turns"].append({"message": text, **compact_turn(turn)})
            if isolated:
                rows = await asyncio.to_thread(new_rows, engine, case.customer, before)
                result["end_state"] = _jsonable(rows.as_dict())
            checks = await asyncio.to_thread(_score, case, result, engine, target, leak_index, " ".join(said))
    except Exception as exc:  # a crash is a failed case, with its cause in the report
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=6)
        checks = [scoring.Check("ran", False, "no error", result["error"])]
    result["checks"] = [c.as_dict() for c in checks]
    result["passed"] = all(c.passed for c in checks)
    return result


def _score(case, result: dict, engine, target, leak_index: LeakIndex, said: str) -> list[scoring.Check]:
    turns = result["turns"]
    last = turns[-1]
    checks: list[scoring.Check] = []
    leaks = sorted({leak for t in turns for leak in leak_index.leaks(t["reply"], case.customer, said)})
    result["leaks"] = leaks
    fill = lambda items: [resolve(x, engine, case.customer) for x in items]  # noqa: E731
    if isinstance(case, IntentCase):
        checks.append(scoring.Check("intent", last["intent"] == case.intent, case.intent, last["intent"]))
    elif isinstance(case, PolicyCase):
        if case.intent is not None:
            checks.append(scoring.Check("intent", last["intent"] == case.intent, case.intent, last["intent"]))
        checks += scoring.text_checks(last["reply"], fill(case.must_contain), fill(case.must_not_contain))
        if case.sources:
            checks.append(scoring.source_check(case.sources, last["sources"]))
    elif isinstance(case, ScenarioCase):
        for i, (turn, got) in enumerate(zip(case.turns, turns)):
            turn = turn.model_copy(update={"must_contain": fill(turn.must_contain), "must_not_contain": fill(turn.must_not_contain)})
            checks += scoring.turn_checks(turn, got, i)
        checks += scoring.end_state_checks(case.expect, result["end_state"], check_dates=target.clock_fixed)
    elif isinstance(case, AdversarialCase):
        for i, (turn, got) in enumerate(zip(case.turns, turns)):
            checks += scoring.turn_checks(turn, got, i)
        checks.append(scoring.refusal_check(last["reply"]))
        for i, got in enumerate(turns):
            checks += scoring.text_checks(got["reply"], [], fill(case.must_not_contain), f"turn{i + 1}.")
        checks += scoring.end_state_checks(case.expect, result["end_state"])
    if isinstance(case, (ScenarioCase, AdversarialCase)) or leaks:
        checks.append(scoring.leak_check(leaks))
    return checks


def compact_turn(turn: dict) -> dict:
    """The turn as the report keeps it: order, invoice and escalation by number only."""
    order, invoice, escalation = turn.get("order"), turn.get("invoice"), turn.get("escalation")
    return _jsonable(
        {
            **{k: v for k, v in turn.items() if k not in ("order", "invoice", "escalation")},
            "order": {"number": order.get("number"), "total": order.get("total")} if order else None,
            "invoice": invoice.get("number") if invoice else None,
            "escalation": {"reference": escalation.get("reference"), "level": escalation.get("level")} if escalation else None,
        }
    )


def expected_summary(case) -> dict:
    if isinstance(case, IntentCase):
        return {"intent": case.intent}
    if isinstance(case, PolicyCase):
        return {
            "intent": case.intent,
            "must_contain": case.must_contain,
            "must_not_contain": case.must_not_contain,
            "sources": [s.model_dump() for s in case.sources],
        }
    if isinstance(case, ScenarioCase):
        return {"end_state": case.expect.model_dump(mode="json", exclude_none=True)}
    return {"refusal": True, "no_leak": True, "end_state": case.expect.model_dump(mode="json", exclude_none=True)}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
