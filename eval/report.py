"""From case results to the report: metrics, per-dataset counts, failures.

`build_report` returns a plain dict; `write_json` stores it with sorted keys so two
reports of the same run differ only where the results do.
"""

from __future__ import annotations

import json
import platform
from collections import defaultdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tria_graph.domain.intents import INTENTS

from . import metrics
from .scoring import source_key

SCHEMA_VERSION = 1
RETRIEVAL_KS = (1, 3)


def build_report(results: list[dict], *, target: str, datasets: list[str], trials: int, duration_s: float,
                 cache: dict | None = None, business_now: str | None = None) -> dict:
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_kind[r["kind"]].append(r)
    turns = [t for r in results for t in r["turns"]]
    report = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "target": target,
            "datasets": datasets,
            "trials": trials,
            "cases": len({r["id"] for r in results}),
            "case_runs": len(results),
            "turns": len(turns),
            "duration_s": duration_s,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "business_now": business_now,
            "tria_graph_version": _version(),
            "python": platform.python_version(),
        },
        "metrics": {
            "intent": intent_metrics(by_kind["intent"]),
            "retrieval": retrieval_metrics(by_kind["policy"]),
            "facts": fact_metrics(by_kind["policy"] + by_kind["scenario"]),
            "policy": {"pass_rate": metrics.success_rate([r["passed"] for r in by_kind["policy"]]), "n": len(by_kind["policy"])},
            "scenarios": trial_metrics(by_kind["scenario"]),
            "adversarial": adversarial_metrics(by_kind["adversarial"]),
            "latency_ms": {
                "all": metrics.latency_summary([t["latency_ms"] for t in turns]),
                "by_intent": metrics.latency_by_group((t["intent"], t["latency_ms"]) for t in turns),
            },
            "llm": {
                "calls_per_turn": metrics.per_turn([t.get("llm_calls", 0) for t in turns]),
                "tokens_per_turn": metrics.per_turn([t.get("llm_tokens", 0) for t in turns]),
            },
            "cache": {
                "hits": cache["hits"] if cache else None,
                "misses": cache["misses"] if cache else None,
                "hit_rate": metrics.cache_hit_rate(cache["hits"], cache["misses"]) if cache else None,
            },
            "leaks": sum(len(r["leaks"]) for r in results),
        },
        "datasets": dataset_counts(results),
        "cases": [case_row(r) for r in results],
        "failures": [r for r in results if not r["passed"]],
    }
    return _rounded(report)


def intent_metrics(results: list[dict]) -> dict:
    expected = [r["expected"]["intent"] for r in results]
    predicted = [r["turns"][-1]["intent"] if r["turns"] else "error" for r in results]
    labels = list(INTENTS) + (["error"] if "error" in predicted else [])
    return {
        "n": len(results),
        "accuracy": metrics.accuracy(expected, predicted),
        "macro_f1": metrics.macro_f1(expected, predicted, labels),
        "out_of_scope_recall": metrics.recall_of("out_of_scope", expected, predicted),
        "labels": labels,
        "confusion_matrix": metrics.confusion_matrix(expected, predicted, labels),
        "per_intent": metrics.per_label(expected, predicted, [label for label in labels if label in expected]),
    }


def retrieval_metrics(results: list[dict]) -> dict:
    cases = []
    for r in results:
        wanted = r["expected"].get("sources") or []
        if not wanted or not r["turns"]:
            continue
        cases.append(({source_key(s) for s in wanted}, [source_key(s) for s in r["turns"][-1]["sources"]]))
    out = {"n": len(cases), "mrr": metrics.mean_reciprocal_rank(cases)}
    for k in RETRIEVAL_KS:
        out[f"recall_at_{k}"] = metrics.recall_at_k(cases, k)
    return out


def fact_metrics(results: list[dict]) -> dict:
    found = [c["passed"] for r in results for c in r["checks"] if c["name"].endswith("contains")]
    forbidden = [c["passed"] for r in results for c in r["checks"] if c["name"].endswith("does_not_contain")]
    return {
        "n": len(found),
        "inclusion": metrics.fact_inclusion(found),
        "forbidden_absent": metrics.fact_inclusion(forbidden),
    }


def trial_metrics(results: list[dict]) -> dict:
    trials: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        trials[r["id"]].append(r["passed"])
    return {
        "n": len(trials),
        "k": max((len(t) for t in trials.values()), default=0),
        "success_rate": metrics.success_rate([r["passed"] for r in results]),
        "pass_hat_k": metrics.pass_hat_k(trials),
    }


def adversarial_metrics(results: list[dict]) -> dict:
    def rate(rows, name):
        return metrics.success_rate([all(c["passed"] for c in r["checks"] if c["name"].endswith(name)) for r in rows])

    categories = sorted({r["category"] for r in results})
    return {
        **trial_metrics(results),
        "pass_rate": metrics.success_rate([r["passed"] for r in results]),
        "refusal_rate": rate(results, "refused"),
        "leak_free_rate": metrics.success_rate([not r["leaks"] and r["error"] is None for r in results]),
        "by_category": {
            c: {"n": sum(r["category"] == c for r in results),
                "pass_rate": metrics.success_rate([r["passed"] for r in results if r["category"] == c])}
            for c in categories
        },
    }


def dataset_counts(results: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for r in results:
        d = out.setdefault(r["dataset"], {"runs": 0, "passed": 0})
        d["runs"] += 1
        d["passed"] += r["passed"]
    for d in out.values():
        d["failed"] = d["runs"] - d["passed"]
        d["pass_rate"] = d["passed"] / d["runs"] if d["runs"] else None
    return out


def case_row(r: dict) -> dict:
    return {
        "id": r["id"],
        "dataset": r["dataset"],
        "kind": r["kind"],
        "trial": r["trial"],
        "passed": r["passed"],
        "intents": [t["intent"] for t in r["turns"]],
        "latency_ms": [t["latency_ms"] for t in r["turns"]],
    }


def get_metric(report: dict, dotted: str):
    """report["metrics"] value at a dotted path ("intent.accuracy"), or None."""
    value = report.get("metrics", {})
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _version() -> str:
    try:
        return version("tria-graph")
    except PackageNotFoundError:
        return "unknown"
