"""`tria-eval` refuses bad input before running anything."""

from __future__ import annotations

from typer.testing import CliRunner

from eval.cli import app

runner = CliRunner()


def test_invalid_dataset_exits_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "intent", "id": "x", "message": "hi", "intent": "greeting"}\n{"kind": "intent", "id": "y"}\n')
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: message: Field required" in result.output


def test_langsmith_needs_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("LANGSMITH_API_KEY", raising=False)
    result = runner.invoke(app, ["run", "--langsmith", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "LANGSMITH_API_KEY" in result.output
