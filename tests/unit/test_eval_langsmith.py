"""The LangSmith upload-experiment payload (built, never sent to the network here)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from eval.langsmith import PATH, build_payload, row_id, upload
from tests.unit.test_eval_scoring import result, sample_report


def test_payload_follows_the_upload_experiment_format():
    report = sample_report()
    results = [result("i1", "intent", True), result("i2", "intent", False, intent="out_of_scope")]
    payload = build_payload(report, results, dataset_name="tria-eval-test")

    for key in ("experiment_name", "experiment_start_time", "experiment_end_time", "dataset_name", "results"):
        assert payload[key]
    start = datetime.fromisoformat(payload["experiment_start_time"])
    end = datetime.fromisoformat(payload["experiment_end_time"])
    assert start.tzinfo is not None and (end - start).total_seconds() == report["run"]["duration_s"]
    rows = payload["results"]
    assert len(rows) == 2
    for row in rows:
        uuid.UUID(row["row_id"])
        assert set(row) >= {"row_id", "inputs", "expected_outputs", "actual_outputs", "evaluation_scores", "start_time", "end_time"}
        assert row["inputs"]["messages"] == ["m"] and row["inputs"]["customer_id"] == "OUT-001"
        assert all(0.0 <= s["score"] <= 1.0 and s["key"] for s in row["evaluation_scores"])
        assert datetime.fromisoformat(row["start_time"]) <= datetime.fromisoformat(row["end_time"])
    passed = {r["inputs"]["case_id"]: next(s["score"] for s in r["evaluation_scores"] if s["key"] == "passed") for r in rows}
    assert passed == {"i1": 1.0, "i2": 0.0}
    failing = next(r for r in rows if r["inputs"]["case_id"] == "i2")
    assert "expected" in next(s for s in failing["evaluation_scores"] if s["key"] == "intent")["comment"]
    assert {"key": "intent.accuracy", "score": 0.5} in payload["summary_experiment_scores"]
    json.dumps(payload)  # serialisable as the request body


def test_row_ids_are_stable_and_distinct():
    assert row_id("intents", "i1", 0) == row_id("intents", "i1", 0)
    assert len({row_id("intents", "i1", 0), row_id("intents", "i1", 1), row_id("policies", "i1", 0)}) == 3


def test_upload_posts_to_the_endpoint_with_the_key():
    sent = {}

    class FakeResponse:
        def raise_for_status(self):
            pass

        def json(self):
            return {"experiment": {"name": "x"}}

    class FakeClient:
        def post(self, url, json, headers):
            sent.update(url=url, body=json, headers=headers)
            return FakeResponse()

    answer = upload({"results": []}, "ls-key", "https://example.invalid/", client=FakeClient())
    assert answer == {"experiment": {"name": "x"}}
    assert sent["url"] == "https://example.invalid" + PATH
    assert sent["headers"] == {"x-api-key": "ls-key"}
