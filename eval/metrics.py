"""Metrics as plain functions of plain values (no I/O, no bot): each is unit-tested.

Rates are in [0, 1]; a metric with nothing to measure returns None rather than a
number that looks like a result.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence


def accuracy(expected: Sequence[str], predicted: Sequence[str]) -> float | None:
    _same_length(expected, predicted)
    if not expected:
        return None
    return sum(e == p for e, p in zip(expected, predicted)) / len(expected)


def confusion_matrix(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Rows are expected labels, columns predicted labels, both in `labels` order."""
    _same_length(expected, predicted)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for e, p in zip(expected, predicted):
        matrix[index[e]][index[p]] += 1
    return matrix


def per_label(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, dict]:
    """Precision, recall, F1 and support of each label (0.0 where undefined)."""
    _same_length(expected, predicted)
    out = {}
    for label in labels:
        tp = sum(e == label and p == label for e, p in zip(expected, predicted))
        fp = sum(e != label and p == label for e, p in zip(expected, predicted))
        fn = sum(e == label and p != label for e, p in zip(expected, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def macro_f1(expected: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None) -> float | None:
    """Unweighted mean F1 over the labels that occur in `expected`."""
    if not expected:
        return None
    present = [label for label in (labels or sorted(set(expected))) if label in set(expected)]
    scores = per_label(expected, predicted, present)
    return sum(s["f1"] for s in scores.values()) / len(present)


def recall_of(label: str, expected: Sequence[str], predicted: Sequence[str]) -> float | None:
    """Share of the cases expected to be `label` that were predicted as `label`."""
    _same_length(expected, predicted)
    relevant = [p for e, p in zip(expected, predicted) if e == label]
    if not relevant:
        return None
    return sum(p == label for p in relevant) / len(relevant)


# --- retrieval ----------------------------------------------------------------------
def first_relevant_rank(relevant: Iterable, retrieved: Sequence) -> int | None:
    """1-based rank of the first retrieved item that is relevant, or None."""
    wanted = set(relevant)
    for rank, item in enumerate(retrieved, start=1):
        if item in wanted:
            return rank
    return None


def recall_at_k(cases: Sequence[tuple[Iterable, Sequence]], k: int) -> float | None:
    """Share of cases with at least one relevant item among the first k retrieved.

    `cases` holds (relevant items, retrieved items in rank order) per question; a
    question's relevant items are alternatives (any one of them answers it).
    """
    if not cases:
        return None
    hits = 0
    for relevant, retrieved in cases:
        rank = first_relevant_rank(relevant, retrieved)
        hits += rank is not None and rank <= k
    return hits / len(cases)


def mean_reciprocal_rank(cases: Sequence[tuple[Iterable, Sequence]]) -> float | None:
    if not cases:
        return None
    total = 0.0
    for relevant, retrieved in cases:
        rank = first_relevant_rank(relevant, retrieved)
        total += 1.0 / rank if rank else 0.0
    return total / len(cases)


# --- facts, scenarios -----------------------------------------------------------------
def fact_inclusion(found: Sequence[bool]) -> float | None:
    """Share of required facts that the replies stated."""
    return sum(found) / len(found) if found else None


def success_rate(outcomes: Sequence[bool]) -> float | None:
    return sum(outcomes) / len(outcomes) if outcomes else None


def pass_hat_k(trials_by_case: dict[str, Sequence[bool]]) -> float | None:
    """pass^k: share of cases that passed in every one of their k trials."""
    if not trials_by_case:
        return None
    return sum(all(t) and len(t) > 0 for t in trials_by_case.values()) / len(trials_by_case)


# --- latency, cost ----------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(values: Sequence[float]) -> dict:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95)}


def latency_by_group(samples: Iterable[tuple[str, float]]) -> dict[str, dict]:
    groups: dict[str, list[float]] = defaultdict(list)
    for group, value in samples:
        groups[group].append(value)
    return {group: latency_summary(values) for group, values in sorted(groups.items())}


def per_turn(values: Sequence[float]) -> float | None:
    """Mean per turn (LLM calls, tokens)."""
    return sum(values) / len(values) if values else None


def cache_hit_rate(hits: float | None, misses: float | None) -> float | None:
    if hits is None or misses is None or hits + misses == 0:
        return None
    return hits / (hits + misses)


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"expected and predicted differ in length ({len(a)} != {len(b)})")
