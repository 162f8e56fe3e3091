"""CI gate: the core datasets, in process on the embedded mode, against the thresholds
and the committed baseline report (eval/baseline/report.json).

A change that moves a score on purpose updates the baseline with `make eval-baseline`.
"""

from __future__ import annotations

import pytest

from eval.report import load_json
from eval.sandbox import mark_template
from eval.suite import BASELINE, gate, run_suite, write_outputs


pytestmark = pytest.mark.slow

def test_core_datasets_pass_the_gate(seeded_var, embeddings, tmp_path):
    # The test fixtures seed the suite's template (tria_graph.demo_data.build_demo_var).
    mark_template(seeded_var)
    report, results = run_suite(template=seeded_var, embeddings=embeddings, progress=False, concurrency=4)
    comparison = gate(report, BASELINE)
    paths = write_outputs(report, tmp_path / "report", comparison)
    print((tmp_path / "report" / "summary.md").read_text())

    assert comparison.ok, "\n".join(comparison.breaches)
    assert report["run"]["cases"] == load_json(BASELINE)["run"]["cases"], "datasets changed: run make eval-baseline"
    assert all(p.stat().st_size > 0 for p in paths)
    # Nothing any outlet was told belongs to another outlet.
    assert report["metrics"]["leaks"] == 0
    assert len(results) == report["run"]["case_runs"]
