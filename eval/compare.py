"""Compare a report with a baseline report under `thresholds.toml`.

A breach (floor, ceiling, drop or rise past its limit, too many newly failing
cases) makes the gate fail; every metric that got worse and every case that passed
before and fails now is listed as a regression, breach or not.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .report import get_metric

THRESHOLDS = Path(__file__).with_name("thresholds.toml")


@dataclass
class Comparison:
    breaches: list[str] = field(default_factory=list)
    regressions: list[dict] = field(default_factory=list)
    improvements: list[dict] = field(default_factory=list)
    newly_failing: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def load_thresholds(path: Path | str = THRESHOLDS) -> dict:
    with open(path, "rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"floors", "ceilings", "max_drop", "max_rise", "cases"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)}")
    return data


def check(report: dict, baseline: dict | None, thresholds: dict) -> Comparison:
    result = Comparison()
    for name, floor in thresholds.get("floors", {}).items():
        value = get_metric(report, name)
        if value is None:
            result.breaches.append(f"{name}: missing from the report (floor {floor})")
        elif value < floor:
            result.breaches.append(f"{name} = {value} is below the floor {floor}")
    for name, ceiling in thresholds.get("ceilings", {}).items():
        value = get_metric(report, name)
        if value is not None and value > ceiling:
            result.breaches.append(f"{name} = {value} is above the ceiling {ceiling}")
    if baseline is None:
        return result

    for name, before, after in _numeric_pairs(report, baseline):
        lower_is_better = name.startswith(("latency_ms", "llm", "leaks"))
        worse = after > before if lower_is_better else after < before
        row = {"metric": name, "baseline": before, "current": after, "delta": round(after - before, 4)}
        if worse:
            result.regressions.append(row)
        elif after != before:
            result.improvements.append(row)
    for name, limit in thresholds.get("max_drop", {}).items():
        before, after = get_metric(baseline, name), get_metric(report, name)
        if before is not None and after is not None and before - after > limit + 1e-9:
            result.breaches.append(f"{name} dropped {before} -> {after} (more than {limit})")
    for name, factor in thresholds.get("max_rise", {}).items():
        before, after = get_metric(baseline, name), get_metric(report, name)
        if before and after is not None and after > before * factor:
            result.breaches.append(f"{name} rose {before} -> {after} (more than x{factor})")

    def outcomes(r: dict) -> dict[str, bool]:
        by_id: dict[str, bool] = {}
        for row in r.get("cases", []):
            by_id[row["id"]] = by_id.get(row["id"], True) and row["passed"]
        return by_id

    old, new = outcomes(baseline), outcomes(report)
    result.newly_failing = sorted(i for i, ok in new.items() if not ok and old.get(i) is True)
    result.newly_passing = sorted(i for i, ok in new.items() if ok and old.get(i) is False)
    limit = thresholds.get("cases", {}).get("max_newly_failing")
    if limit is not None and len(result.newly_failing) > limit:
        result.breaches.append(
            f"{len(result.newly_failing)} cases that passed in the baseline now fail (at most {limit}): "
            + ", ".join(result.newly_failing[:20])
        )
    return result


_SKIP = ("intent.confusion_matrix", "intent.labels", "cache", "latency_ms.by_intent")


def _numeric_pairs(report: dict, baseline: dict, prefix: str = ""):
    """(dotted name, baseline value, current value) of every number both reports have."""
    current = get_metric(report, prefix) if prefix else report.get("metrics", {})
    before = get_metric(baseline, prefix) if prefix else baseline.get("metrics", {})
    if not isinstance(current, dict) or not isinstance(before, dict):
        return
    for key in sorted(current):
        name = f"{prefix}.{key}" if prefix else key
        if name.startswith(_SKIP) or name.endswith(".n") or name.endswith(".support"):
            continue
        a, b = before.get(key), current[key]
        if isinstance(b, dict):
            yield from _numeric_pairs(report, baseline, name)
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(b, bool):
            yield name, a, b
