"""`tria-eval`: run datasets against the bot, write reports, gate on a baseline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

app = typer.Typer(help="Evaluate the Tria bot on datasets of conversations.", no_args_is_help=True)


@app.command()
def run(
    datasets: list[Path] = typer.Argument(None, help="JSONL files or directories (default: eval/datasets)."),
    target: str = typer.Option("inproc", help="'inproc' (the library, embedded mode) or http://HOST:PORT."),
    trials: int = typer.Option(1, min=1, help="Runs of every case (pass^k over K trials)."),
    concurrency: int = typer.Option(4, min=1, help="Cases in flight at once."),
    baseline: Path = typer.Option(None, exists=True, dir_okay=False, help="Report to compare with; exit 1 past thresholds."),
    out: Path = typer.Option(Path("reports/latest"), help="Directory for report.json, summary.md, report.html, junit.xml."),
    thresholds: Path = typer.Option(None, exists=True, dir_okay=False, help="Thresholds TOML (default eval/thresholds.toml)."),
    template: Path = typer.Option(None, help="Seeded VAR_DIR for the in-process target (default $VAR_DIR/eval-template)."),
    langsmith: bool = typer.Option(False, "--langsmith", help="Upload the dataset and run to LangSmith (needs LANGSMITH_API_KEY)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Run DATASETS against TARGET and write the reports to OUT."""
    from .schema import DatasetError
    from .suite import gate, run_suite, write_outputs

    if langsmith and not os.environ.get("LANGSMITH_API_KEY"):
        raise typer.BadParameter("--langsmith needs LANGSMITH_API_KEY in the environment", param_hint="--langsmith")
    try:
        report, results = run_suite(datasets, target, trials, concurrency, template, progress)
    except DatasetError as exc:
        typer.echo("Invalid dataset:\n" + str(exc), err=True)
        raise typer.Exit(2)
    except ValueError as exc:
        raise typer.BadParameter(str(exc))
    comparison = gate(report, baseline, thresholds) if baseline else None
    paths = write_outputs(report, out, comparison)
    typer.echo((out / "summary.md").read_text().split("\n## Datasets")[0])
    typer.echo("Reports: " + ", ".join(str(p) for p in paths))
    if langsmith:
        from .langsmith import build_payload, upload

        answer = upload(build_payload(report, results), os.environ["LANGSMITH_API_KEY"],
                        os.environ.get("LANGSMITH_ENDPOINT", "https://api.smith.langchain.com"))
        typer.echo(f"LangSmith: uploaded experiment {answer.get('experiment', {}).get('name', '')}".rstrip())
    if comparison is not None:
        for breach in comparison.breaches:
            typer.echo(f"BREACH: {breach}", err=True)
        for row in comparison.regressions:
            typer.echo(f"regressed: {row['metric']} {row['baseline']} -> {row['current']}")
        for case in comparison.newly_failing:
            typer.echo(f"newly failing: {case}")
        if not comparison.ok:
            raise typer.Exit(1)


@app.command()
def validate(datasets: list[Path] = typer.Argument(None, help="JSONL files or directories (default: eval/datasets).")) -> None:
    """Check dataset files against the schema; list every bad line."""
    from collections import Counter

    from .schema import DatasetError, load_datasets
    from .suite import dataset_files

    try:
        cases = load_datasets(dataset_files(datasets))
    except DatasetError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)
    counts = Counter(c.kind for c in cases)
    typer.echo(f"{len(cases)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


@app.command("baseline")
def update_baseline(report: Path = typer.Argument(Path("reports/latest/report.json"), exists=True, dir_okay=False)) -> None:
    """Copy REPORT to eval/baseline/report.json (on purpose, after reading the diff)."""
    from .suite import BASELINE

    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(report, BASELINE)
    typer.echo(f"Baseline updated from {report}.")
