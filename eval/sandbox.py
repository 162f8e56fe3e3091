"""Where in-process evaluation runs: a seeded template VAR_DIR and private copies of it.

The template holds the demo database seeded for a fixed business day, the knowledge
base and the trained classifier. Every case (or scenario) runs in its own copy of the
database, with the knowledge base and models symlinked, so nothing one case writes is
seen by another and a run gives the same results every time. This is the only place
in `eval/` that builds a ChatService by hand (to give it a fixed clock).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tria_graph.config import DATA_DIR, Settings

SGT = ZoneInfo("Asia/Singapore")
# Monday 23 Nov 2026, 10:00 in Singapore: before the 2:00 PM cutoff. The demo data is
# seeded for this day, so order numbers and history are the same in every run.
BUSINESS_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)
MARKER = ".eval-template.json"


class FixedClock:
    """A business clock that always says the same time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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
    from tria_graph.adapters.database import make_engine, session_factory
    from tria_graph.adapters.embeddings import LocalEmbeddings
    from tria_graph.adapters.intent_classifier import IntentClassifier
    from tria_graph.adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages
    from tria_graph.adapters.migrations import migrate
    from tria_graph.demo_data import catalog_products, seed

    var = Path(var)
    if var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True)
    settings = embedded_settings(var)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    with session_factory(engine)() as session:
        seed(session, settings, today=BUSINESS_NOW.date())
    engine.dispose()
    embeddings = embeddings or LocalEmbeddings(var / "models")
    kb = PolicyKB.from_settings(settings, embeddings)
    kb.build(load_policy_passages(DATA_DIR / "policies") + catalog_passages(catalog_products()))
    IntentClassifier.load_or_train(embeddings, var / "models", settings.intent_threshold)
    (var / MARKER).write_text(json.dumps({"inputs": _inputs_fingerprint(), "business_day": str(BUSINESS_NOW.date())}))
    return var


def ensure_template(var: Path) -> Path:
    """The template at `var`, (re)built when missing or made from older data files."""
    if not template_is_current(Path(var)):
        build_template(Path(var))
    return Path(var)


def mark_template(var: Path) -> None:
    """Record that a VAR_DIR seeded for BUSINESS_NOW elsewhere (the test fixtures) is a template."""
    (Path(var) / MARKER).write_text(json.dumps({"inputs": _inputs_fingerprint(), "business_day": str(BUSINESS_NOW.date())}))


def embedded_settings(var: Path) -> Settings:
    """Settings for the embedded mode in `var`, whatever DATABASE_URL, REDIS_URL... say."""
    return Settings(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'tria.db'}",
        CHECKPOINT_DB=str(var / "checkpoints.db"),
        CHROMA_DIR=str(var / "chroma"),
        CHROMA_HOST="",
        REDIS_URL="",
    )


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


class ServiceFactory:
    """ChatServices over sandboxes, sharing one loaded embedding model."""

    def __init__(self, template: Path, embeddings=None) -> None:
        from tria_graph.adapters.embeddings import LocalEmbeddings

        self.template = Path(template)
        self.embeddings = embeddings or LocalEmbeddings(self.template / "models")
        self.embeddings.load()

    def service(self, settings: Settings, now: datetime = BUSINESS_NOW):
        from tria_graph import ChatService, build_context, build_graph

        context = build_context(settings, embeddings=self.embeddings, clock=FixedClock(now))
        return ChatService(build_graph(), context)

    @staticmethod
    def release(service) -> None:
        """Close the service's database connections (the sandbox goes next)."""
        service.context.close()
