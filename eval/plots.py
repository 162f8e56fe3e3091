"""The report's figures, as PNG bytes (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def confusion_matrix_png(labels: list[str], matrix: list[list[int]]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")
    ax.set_title("Intent confusion matrix")
    return _png(fig)


def latency_histogram_png(latencies: list[float]) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(latencies, bins=40, color="#4477aa")
    ax.set_xlabel("latency per turn (ms)")
    ax.set_ylabel("turns")
    ax.set_title("Latency per turn")
    return _png(fig)


def per_intent_bars_png(per_intent: dict[str, dict], latency_by_intent: dict[str, dict]) -> bytes:
    names = list(per_intent)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.bar(names, [per_intent[n]["f1"] for n in names], color="#228833")
    left.set_ylim(0, 1)
    left.set_title("F1 per intent")
    left.tick_params(axis="x", rotation=45)
    lat_names = list(latency_by_intent)
    right.bar(lat_names, [latency_by_intent[n]["p95"] or 0 for n in lat_names], color="#ee6677", label="p95")
    right.bar(lat_names, [latency_by_intent[n]["p50"] or 0 for n in lat_names], color="#4477aa", label="p50")
    right.set_title("Latency per intent (ms)")
    right.legend()
    right.tick_params(axis="x", rotation=45)
    for ax in (left, right):
        for label in ax.get_xticklabels():
            label.set_ha("right")
    return _png(fig)
