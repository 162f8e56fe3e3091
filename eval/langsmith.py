"""The run as a LangSmith experiment: the body of `POST /api/v1/datasets/upload-experiment`.

LangSmith's "upload experiments run outside of LangSmith" endpoint takes, in one
request, the dataset (by name), the experiment (name, start and end time, metadata,
summary scores) and one row per example: `row_id`, `inputs`, `expected_outputs`,
`actual_outputs`, `evaluation_scores` (feedback: key and score), `start_time`,
`end_time`, `run_name`, `error`. `build_payload` makes that body from a report;
`upload` sends it (only from the CLI with --langsmith and LANGSMITH_API_KEY set).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

DEFAULT_ENDPOINT = "https://api.smith.langchain.com"
PATH = "/api/v1/datasets/upload-experiment"
_NAMESPACE = uuid.UUID("7b0c6a9e-2f43-4d5e-9a51-3d7f1e2c8b60")

SUMMARY_METRICS = (
    "intent.accuracy", "intent.macro_f1", "intent.out_of_scope_recall", "retrieval.recall_at_3",
    "retrieval.mrr", "facts.inclusion", "scenarios.success_rate", "scenarios.pass_hat_k",
    "adversarial.pass_rate", "adversarial.leak_free_rate",
)


def row_id(dataset: str, case_id: str, trial: int) -> str:
    """A stable uuid per case run, so re-uploads of the same suite line up."""
    return str(uuid.uuid5(_NAMESPACE, f"{dataset}/{case_id}/{trial}"))


def build_payload(report: dict, results: list[dict], dataset_name: str = "tria-eval",
                  experiment_name: str | None = None) -> dict:
    from .report import get_metric

    run = report["run"]
    end = datetime.fromisoformat(run["finished_at"])
    start = end - timedelta(seconds=float(run["duration_s"]))
    rows = []
    for r in results:
        elapsed = sum(t["latency_ms"] for t in r["turns"]) / 1000
        scores = [{"key": "passed", "score": 1.0 if r["passed"] else 0.0}]
        scores += [
            {"key": c["name"], "score": 1.0 if c["passed"] else 0.0,
             "comment": None if c["passed"] else f"expected {c['expected']!r}, got {c['actual']!r}"[:500]}
            for c in r["checks"]
        ]
        rows.append({
            "row_id": row_id(r["dataset"], r["id"], r["trial"]),
            "inputs": {"customer_id": r["customer"], "messages": [t["message"] for t in r["turns"]], "case_id": r["id"], "kind": r["kind"]},
            "expected_outputs": r["expected"],
            "actual_outputs": {
                "replies": [t["reply"] for t in r["turns"]],
                "intents": [t["intent"] for t in r["turns"]],
                "sources": [t["sources"] for t in r["turns"]],
                "end_state": r["end_state"],
            },
            "evaluation_scores": scores,
            "start_time": _iso(start),
            "end_time": _iso(start + timedelta(seconds=elapsed)),
            "run_name": f"{r['dataset']}/{r['id']}",
            "error": r["error"],
        })
    summary = [
        {"key": name, "score": value}
        for name in SUMMARY_METRICS
        if (value := get_metric(report, name)) is not None
    ]
    return {
        "experiment_name": experiment_name or f"tria-eval {run['target']} {run['finished_at']}",
        "experiment_description": f"tria-eval run of {', '.join(run['datasets'])} against {run['target']}",
        "experiment_start_time": _iso(start),
        "experiment_end_time": _iso(end),
        "dataset_name": dataset_name,
        "dataset_description": "Tria customer-service evaluation cases (eval/datasets)",
        "experiment_metadata": {"target": run["target"], "trials": run["trials"], "tria_graph_version": run["tria_graph_version"]},
        "summary_experiment_scores": summary,
        "results": rows,
    }


def upload(payload: dict, api_key: str, endpoint: str = DEFAULT_ENDPOINT, client=None) -> dict:
    import httpx

    client = client or httpx.Client(timeout=60)
    response = client.post(endpoint.rstrip("/") + PATH, json=payload, headers={"x-api-key": api_key})
    response.raise_for_status()
    return response.json()


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()
