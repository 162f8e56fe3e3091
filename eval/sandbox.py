"""Where in-process evaluation runs: a seeded template VAR_DIR and private copies of it.

The template holds the demo database seeded for a fixed business day, the knowledge
base and the trained classifier (`tria_graph.demo_data.build_demo_var`, which the test
fixtures use too). Every case (or scenario) runs in its own copy of the database, with
the knowledge base and models symlinked, so nothing one case writes is seen by another
and a run gives the same results every time. On each copy the suite opens the
ChatService production runs (`tria_graph.open_chat_service`), on a fixed clock.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tria_graph.config import DATA_DIR, Settings
from tria_graph.demo_data import DEMO_NOW, build_demo_var, embedded_settings

# The business day the template is seeded for: Monday 23 Nov 2026, 10:00 in Singapore.
BUSINESS_NOW = DEMO_NOW
MARKER = ".eval-template.json"


def _inputs_fingerprint() -> str:
    from tria_graph.adapters.migrations import head_revision

    # The schema revision too: a template made by an older schema is rebuilt.
    digest = hashlib.sha256(f"{BUSINESS_NOW.isoformat()}|{head_revision()}".encode())
    files = sorted((DATA_DIR / "policies").glob("*.md")) + [
        DATA_DIR / "catalog.csv",
        DATA_DIR / "outlets.csv",
        DATA_DIR / "intents" / "train.jsonl",
    ]
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def template_is_current(var: Path) -> bool:
    marker = var / MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text())["inputs"] == _inputs_fingerprint()
    except (ValueError, KeyError):
        return False


def build_template(var: Path, embeddings=None) -> Path:
    """Seed the database, build the knowledge base and train the classifier in `var`."""
    from tria_graph.adapters.embeddings import LocalEmbeddings

    var = Path(var)
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    build_demo_var(var, embeddings or LocalEmbeddings(var / "models"))
    mark_template(var)
    return var


def ensure_template(var: Path) -> Path:
    """The template at `var`, (re)built when missing or made from older data files."""
    if not template_is_current(Path(var)):
        build_template(Path(var))
    return Path(var)


def mark_template(var: Path) -> None:
    """Record that a VAR_DIR seeded for BUSINESS_NOW elsewhere (the test fixtures) is a template."""
    (Path(var) / MARKER).write_text(json.dumps({"inputs": _inputs_fingerprint(), "business_day": str(BUSINESS_NOW.date())}))


@dataclass
class Sandbox:
    var_dir: Path
    settings: Settings


@contextmanager
def sandbox(template: Path) -> Iterator[Sandbox]:
    """A private VAR_DIR: its own copy of the template's database, shared KB and models."""
    root = Path(tempfile.mkdtemp(prefix="tria-eval-"))
    try:
        var = root / "var"
        var.mkdir()
        shutil.copy(template / "tria.db", var / "tria.db")
        (var / "chroma").symlink_to(Path(template, "chroma").resolve())
        (var / "models").symlink_to(Path(template, "models").resolve())
        yield Sandbox(var, embedded_settings(var))
    finally:
        shutil.rmtree(root, ignore_errors=True)
