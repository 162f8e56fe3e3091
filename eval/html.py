"""The self-contained HTML report: headline metrics, plots as inline PNG, every failure."""

from __future__ import annotations

import base64
import html
import json

from . import plots
from .summary import HEADLINE, _fmt

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.fail{color:#b00}.pass{color:#070}pre{white-space:pre-wrap;margin:0;font-size:90%}
details{margin:.4em 0}summary{cursor:pointer}img{max-width:100%}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return f"<pre>{html.escape(text)}</pre>"


def render_html(report: dict, comparison: dict | None = None) -> str:
    from .report import get_metric

    run = report["run"]
    m = report["metrics"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>tria-eval report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>tria-eval report</h1>",
        f"<p>Target <code>{html.escape(run['target'])}</code>, {run['cases']} cases &times; {run['trials']} trial(s), "
        f"{run['turns']} turns, {run['duration_s']} s. Datasets: {html.escape(', '.join(run['datasets']))}.</p>",
        "<table><tr><th>metric</th><th>value</th></tr>",
    ]
    parts += [f"<tr><td>{html.escape(label)}</td><td>{_fmt(get_metric(report, key))}</td></tr>" for label, key in HEADLINE]
    parts.append("</table>")
    if comparison is not None:
        verdict = "<span class='pass'>PASS</span>" if comparison["ok"] else "<span class='fail'>FAIL</span>"
        parts.append(f"<h2>Against the baseline: {verdict}</h2><ul>")
        parts += [f"<li class='fail'>{html.escape(b)}</li>" for b in comparison["breaches"]]
        parts += [f"<li>regressed: {html.escape(r['metric'])} {r['baseline']} &rarr; {r['current']}</li>" for r in comparison["regressions"]]
        parts += [f"<li>newly failing: {html.escape(i)}</li>" for i in comparison["newly_failing"]]
        parts.append("</ul>")
    parts.append("<h2>Datasets</h2><table><tr><th>dataset</th><th>runs</th><th>passed</th><th>failed</th></tr>")
    for name, d in sorted(report["datasets"].items()):
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{d['runs']}</td><td>{d['passed']}</td><td>{d['failed']}</td></tr>")
    parts.append("</table><h2>Plots</h2>")
    intent = m["intent"]
    if intent["n"]:
        parts.append(_img(plots.confusion_matrix_png(intent["labels"], intent["confusion_matrix"]), "confusion matrix"))
    latencies = [ms for row in report["cases"] for ms in row.get("latency_ms", [])]
    if latencies:
        parts.append(_img(plots.latency_histogram_png(latencies), "latency histogram"))
    if intent["n"]:
        parts.append(_img(plots.per_intent_bars_png(intent["per_intent"], m["latency_ms"]["by_intent"]), "per-intent bars"))
    failures = report["failures"]
    parts.append(f"<h2>Failures ({len(failures)})</h2>")
    parts.append("<table><tr><th>case</th><th>check</th><th>expected</th><th>actual</th></tr>")
    for f in failures:
        bad = [c for c in f["checks"] if not c["passed"]]
        transcript = "\n".join(f"> {t['message']}\n< {t['reply']}  [{t['intent']}]" for t in f["turns"])
        head = (
            f"<td rowspan='{len(bad)}'><b>{html.escape(f['id'])}</b><br><small>{html.escape(f['where'])}"
            f" trial {f['trial']}</small><details><summary>conversation</summary>{_cell(transcript)}"
            + (f"<p>end state:</p>{_cell(f['end_state'])}" if f.get("end_state") is not None else "")
            + (f"<p class='fail'>{html.escape(f['error'])}</p>" if f.get("error") else "")
            + "</details></td>"
        )
        for i, c in enumerate(bad):
            parts.append(
                "<tr>" + (head if i == 0 else "") + f"<td>{html.escape(c['name'])}</td>"
                f"<td>{_cell(c['expected'])}</td><td>{_cell(c['actual'])}</td></tr>"
            )
    parts.append("</table></body></html>")
    return "\n".join(parts)
