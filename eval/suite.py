"""One evaluation run end to end, for the CLI, the CI gate and notebooks."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from .compare import Comparison, check, load_thresholds
from .report import build_report, load_json, write_json
from .runner import run_cases
from .sandbox import BUSINESS_NOW, ensure_template
from .schema import load_datasets
from .targets import make_target

DATASETS_DIR = Path(__file__).with_name("datasets")
BASELINE = Path(__file__).with_name("baseline") / "report.json"


def dataset_files(paths: list[Path | str] | None = None) -> list[Path]:
    """JSONL files named, or found in the directories named (default: eval/datasets)."""
    files: list[Path] = []
    for path in map(Path, paths or [DATASETS_DIR]):
        files += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return files


def default_template() -> Path:
    return Path(os.environ.get("VAR_DIR", "var")) / "eval-template"


def run_suite(paths=None, target: str = "inproc", trials: int = 1, concurrency: int = 4,
              template: Path | None = None, progress: bool = True, embeddings=None) -> tuple[dict, list[dict]]:
    """Load and validate the datasets, run them, and build the report (plus raw case results)."""
    files = dataset_files(paths)
    cases = load_datasets(files)
    if target == "inproc":
        template = ensure_template(template or default_template())
    run = asyncio.run(run_cases(cases, make_target(target, template, embeddings), trials=trials,
                                concurrency=concurrency, progress=progress))
    report = build_report(
        run.results,
        target=target,
        datasets=[f.stem for f in files],
        trials=trials,
        duration_s=run.duration_s,
        cache=run.cache,
        business_now=BUSINESS_NOW.isoformat() if target == "inproc" else None,
    )
    return report, run.results


def gate(report: dict, baseline: Path | str | None, thresholds: Path | str | None = None) -> Comparison:
    kwargs = {"path": thresholds} if thresholds else {}
    return check(report, load_json(Path(baseline)) if baseline else None, load_thresholds(**kwargs))


def write_outputs(report: dict, out: Path, comparison: Comparison | None = None) -> list[Path]:
    """report.json, summary.md, report.html and junit.xml in `out`."""
    from .html import render_html
    from .junit import render_junit
    from .summary import render_markdown

    out.mkdir(parents=True, exist_ok=True)
    data = comparison.as_dict() if comparison is not None else None
    if data is not None:
        report = {**report, "comparison": data}
    paths = [out / "report.json", out / "summary.md", out / "report.html", out / "junit.xml"]
    write_json(report, paths[0])
    paths[1].write_text(render_markdown(report, data), encoding="utf-8")
    paths[2].write_text(render_html(report, data), encoding="utf-8")
    paths[3].write_text(render_junit(report), encoding="utf-8")
    return paths
