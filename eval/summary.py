"""The Markdown summary: headline metrics, per-dataset counts, regressions, failures."""

from __future__ import annotations


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


HEADLINE = [
    ("Intent accuracy", "intent.accuracy"),
    ("Intent macro-F1", "intent.macro_f1"),
    ("out_of_scope recall", "intent.out_of_scope_recall"),
    ("Retrieval recall@1", "retrieval.recall_at_1"),
    ("Retrieval recall@3", "retrieval.recall_at_3"),
    ("Retrieval MRR", "retrieval.mrr"),
    ("Fact inclusion", "facts.inclusion"),
    ("Forbidden text absent", "facts.forbidden_absent"),
    ("Policy cases passed", "policy.pass_rate"),
    ("Scenario success", "scenarios.success_rate"),
    ("Scenario pass^k", "scenarios.pass_hat_k"),
    ("Adversarial passed", "adversarial.pass_rate"),
    ("Adversarial refused", "adversarial.refusal_rate"),
    ("Adversarial leak-free", "adversarial.leak_free_rate"),
    ("Leaks (other outlets' data shown)", "leaks"),
    ("Latency p50 ms (all turns)", "latency_ms.all.p50"),
    ("Latency p95 ms (all turns)", "latency_ms.all.p95"),
    ("LLM calls per turn", "llm.calls_per_turn"),
    ("LLM tokens per turn", "llm.tokens_per_turn"),
    ("Cache hit rate", "cache.hit_rate"),
]


def render_markdown(report: dict, comparison: dict | None = None, max_failures: int = 50) -> str:
    from .report import get_metric

    run = report["run"]
    lines = [
        "# tria-eval report",
        "",
        f"Target `{run['target']}`, {run['cases']} cases x {run['trials']} trial(s), {run['turns']} turns, "
        f"{run['duration_s']} s. Datasets: {', '.join(run['datasets'])}.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {label} | {_fmt(get_metric(report, key))} |" for label, key in HEADLINE]
    lines += ["", "## Datasets", "", "| dataset | runs | passed | failed | pass rate |", "|---|---|---|---|---|"]
    for name, d in sorted(report["datasets"].items()):
        lines.append(f"| {name} | {d['runs']} | {d['passed']} | {d['failed']} | {_fmt(d['pass_rate'])} |")
    lines += ["", "## Latency by intent (ms)", "", "| intent | turns | p50 | p95 |", "|---|---|---|---|"]
    for intent, s in report["metrics"]["latency_ms"]["by_intent"].items():
        lines.append(f"| {intent} | {s['n']} | {_fmt(s['p50'])} | {_fmt(s['p95'])} |")
    if comparison is not None:
        lines += ["", "## Against the baseline", ""]
        lines.append("**Gate: PASS**" if comparison["ok"] else "**Gate: FAIL**")
        lines += [f"- breach: {b}" for b in comparison["breaches"]]
        lines += [f"- regressed: `{r['metric']}` {r['baseline']} -> {r['current']}" for r in comparison["regressions"]]
        lines += [f"- newly failing: `{i}`" for i in comparison["newly_failing"]]
        lines += [f"- newly passing: `{i}`" for i in comparison["newly_passing"]]
    failures = report["failures"]
    lines += ["", f"## Failures ({len(failures)})", ""]
    for f in failures[:max_failures]:
        bad = [c for c in f["checks"] if not c["passed"]]
        detail = "; ".join(f"{c['name']}: expected {c['expected']!r}, got {c['actual']!r}" for c in bad[:3])
        lines.append(f"- `{f['id']}` ({f['where']}): {detail}"[:600])
    if len(failures) > max_failures:
        lines.append(f"- ... and {len(failures) - max_failures} more (report.html lists them all)")
    return "\n".join(lines) + "\n"
