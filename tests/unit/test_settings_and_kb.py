"""Settings from the environment, the knowledge base, and the `tria` command."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from tria_graph.adapters.database import OrderRow, make_engine, session_factory
from tria_graph.adapters.policy_kb import PolicyKB, split_markdown
from tria_graph.cli import app
from tria_graph.config import Settings, get_settings


def test_settings_read_the_runbook_names(monkeypatch):
    monkeypatch.setenv("TAX_RATE", "0.08")
    monkeypatch.setenv("DELIVERY_DAYS", "monday, friday")
    monkeypatch.setenv("ORDER_CUTOFF", "15:30")
    monkeypatch.setenv("VAR_DIR", "/tmp/elsewhere")
    s = Settings()
    assert s.tax_rate == 0.08
    assert s.delivery_days == ["Monday", "Friday"]
    assert s.order_cutoff == time(15, 30)
    assert s.resolved_database_url == "sqlite:////tmp/elsewhere/tria.db"


def test_markdown_passages_keep_document_and_section():
    passages = split_markdown(
        "# Cancellation Policy\n\nIntro line.\n\n## Cancellation Fees\n\n"
        "- Cancelling less than 12 hours before costs **50%**.\n- Second rule\n  continues here.\n"
    )
    assert [(p.document, p.section, p.text) for p in passages] == [
        ("Cancellation Policy", "Cancellation Policy", "Intro line."),
        ("Cancellation Policy", "Cancellation Fees", "Cancelling less than 12 hours before costs 50%."),
        ("Cancellation Policy", "Cancellation Fees", "Second rule continues here."),
    ]


def test_hybrid_search_finds_keyword_rules(seeded_var, embeddings):
    settings = Settings(VAR_DIR=str(seeded_var))
    kb = PolicyKB(embeddings, settings.resolved_chroma_dir, settings.chroma_collection)
    days = kb.search("what are your delivery days", k=4)
    assert any("Tuesday, Thursday and Saturday" in p["text"] for p in days[:2])
    pay = kb.search("how long do I have to pay my invoice", k=4)
    assert pay[0]["document"] == "Payment and Invoicing" and "30 days" in pay[0]["text"]
    assert all(0 <= p["score"] <= 1 for p in pay)


def test_cli_seeds_once_and_builds_the_kb(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        first = runner.invoke(app, ["db", "seed"])
        assert first.exit_code == 0, first.output
        assert "300 orders" in first.output
        again = runner.invoke(app, ["db", "seed"])
        assert "already present" in again.output
        with session_factory(make_engine(f"sqlite:///{tmp_path / 'tria.db'}"))() as s:
            assert s.scalar(select(func.count()).select_from(OrderRow)) == 300
        built = runner.invoke(app, ["kb", "build"])
        assert built.exit_code == 0, built.output
        assert "Knowledge base ready" in built.output
    finally:
        get_settings.cache_clear()
