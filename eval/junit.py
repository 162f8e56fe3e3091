"""JUnit XML for CI dashboards: one test suite per dataset, one test case per case run."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def render_junit(report: dict) -> str:
    root = ET.Element("testsuites", name="tria-eval", time=str(report["run"]["duration_s"]))
    suites: dict[str, ET.Element] = {}
    totals: dict[str, list[int]] = {}
    by_id = {(f["id"], f["trial"]): f for f in report["failures"]}
    for row in report["cases"]:
        dataset = row["dataset"]
        if dataset not in suites:
            suites[dataset] = ET.SubElement(root, "testsuite", name=dataset)
            totals[dataset] = [0, 0]
        name = row["id"] if report["run"]["trials"] == 1 else f"{row['id']}[trial {row['trial']}]"
        case = ET.SubElement(suites[dataset], "testcase", classname=f"tria_eval.{dataset}", name=name)
        totals[dataset][0] += 1
        failure = by_id.get((row["id"], row["trial"]))
        if failure is not None:
            totals[dataset][1] += 1
            bad = [c for c in failure["checks"] if not c["passed"]]
            message = "; ".join(c["name"] for c in bad) or "failed"
            body = "\n".join(f"{c['name']}: expected {c['expected']!r}, got {c['actual']!r}" for c in bad)
            body += "\n\n" + "\n".join(f"> {t['message']}\n< {t['reply']}" for t in failure["turns"])
            ET.SubElement(case, "failure", message=message[:500], type="AssertionError").text = body
    for dataset, suite in suites.items():
        suite.set("tests", str(totals[dataset][0]))
        suite.set("failures", str(totals[dataset][1]))
        suite.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
