"""eval.metrics: plain functions, checked against hand-computed values."""

from __future__ import annotations

import pytest

from eval import metrics


def test_accuracy_and_confusion_matrix():
    expected = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "a"]
    assert metrics.accuracy(expected, predicted) == 0.5
    assert metrics.confusion_matrix(expected, predicted, ["a", "b", "c"]) == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert metrics.accuracy([], []) is None
    with pytest.raises(ValueError):
        metrics.accuracy(["a"], [])


def test_per_label_and_macro_f1():
    expected = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "a"]
    scores = metrics.per_label(expected, predicted, ["a", "b", "c"])
    # a: tp1 fp1 fn1 -> p .5 r .5 f1 .5; b: tp1 fp1 fn0 -> p .5 r 1 f1 2/3; c: 0
    assert scores["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores["b"]["f1"] == pytest.approx(2 / 3)
    assert scores["c"]["f1"] == 0.0
    assert metrics.macro_f1(expected, predicted, ["a", "b", "c"]) == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    # Labels that never occur in `expected` do not dilute the mean.
    assert metrics.macro_f1(["a"], ["a"], ["a", "z"]) == 1.0


def test_recall_of_one_label():
    expected = ["out_of_scope", "out_of_scope", "greeting", "out_of_scope"]
    predicted = ["out_of_scope", "greeting", "greeting", "out_of_scope"]
    assert metrics.recall_of("out_of_scope", expected, predicted) == pytest.approx(2 / 3)
    assert metrics.recall_of("complaint", expected, predicted) is None


def test_recall_at_k_and_mrr():
    cases = [
        ({"x"}, ["x", "y"]),        # rank 1
        ({"y", "z"}, ["a", "z"]),   # rank 2 (either relevant item counts)
        ({"q"}, ["a", "b", "c"]),   # missed
        ({"c"}, ["a", "b", "c"]),   # rank 3
    ]
    assert metrics.recall_at_k(cases, 1) == 0.25
    assert metrics.recall_at_k(cases, 2) == 0.5
    assert metrics.recall_at_k(cases, 3) == 0.75
    assert metrics.mean_reciprocal_rank(cases) == pytest.approx((1 + 0.5 + 0 + 1 / 3) / 4)
    assert metrics.recall_at_k([], 3) is None


def test_fact_inclusion_success_and_pass_hat_k():
    assert metrics.fact_inclusion([True, False, True, True]) == 0.75
    assert metrics.fact_inclusion([]) is None
    trials = {"s1": [True, True, True], "s2": [True, False, True], "s3": [False, False, False]}
    assert metrics.pass_hat_k(trials) == pytest.approx(1 / 3)
    assert metrics.success_rate([t for ts in trials.values() for t in ts]) == pytest.approx(5 / 9)


def test_percentiles_and_latency_groups():
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert metrics.percentile(values, 50) == 55
    assert metrics.percentile(values, 95) == pytest.approx(95.5)
    assert metrics.percentile([7], 95) == 7
    assert metrics.percentile([], 50) is None
    groups = metrics.latency_by_group([("a", 1.0), ("b", 5.0), ("a", 3.0)])
    assert groups == {"a": {"n": 2, "p50": 2.0, "p95": 2.9}, "b": {"n": 1, "p50": 5.0, "p95": 5.0}}


def test_per_turn_and_cache_hit_rate():
    assert metrics.per_turn([0, 2, 4]) == 2
    assert metrics.cache_hit_rate(3, 1) == 0.75
    assert metrics.cache_hit_rate(None, None) is None
    assert metrics.cache_hit_rate(0, 0) is None
