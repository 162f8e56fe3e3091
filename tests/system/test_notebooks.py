"""The notebooks run top to bottom (they hold their own asserts), so they never rot.

Each runs in a fresh kernel, in a private VAR_DIR copied from the seeded test data.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
TIMEOUT = 180  # seconds per cell; a run takes a few seconds once the model is exported


def execute(name: str, cwd: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs_text(notebook) -> str:
    return "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
    )


def test_quickstart_notebook(var_dir, tmp_path):
    env = {"VAR_DIR": str(var_dir), "DATABASE_URL": "", "CHECKPOINT_DB": "", "CHROMA_DIR": "", "PYTHONPATH": str(NOTEBOOKS.parent)}
    notebook = execute("01_quickstart.ipynb", tmp_path, env)
    text = outputs_text(notebook)
    assert "graph TD" in text or "flowchart" in text  # the mermaid drawing
    assert "policy_question" in text


def test_eval_analysis_notebook(tmp_path):
    env = {"PYTHONPATH": str(NOTEBOOKS.parent)}
    notebook = execute("02_eval_analysis.ipynb", NOTEBOOKS, env)
    images = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3
    assert "Intent accuracy" in str(notebook.cells[3].outputs)
