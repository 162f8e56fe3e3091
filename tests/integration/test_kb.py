"""The knowledge base's hybrid search, and `tria db seed` / `tria kb build` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tria_graph.adapters.database import OrderRow, make_engine, session_factory
from tria_graph.adapters.policy_kb import PolicyKB
from tria_graph.cli import app
from tria_graph.config import Settings, get_settings


def test_hybrid_search_finds_keyword_rules(seeded_var, embeddings):
    settings = Settings(VAR_DIR=str(seeded_var))
    kb = PolicyKB(embeddings, settings.resolved_chroma_dir, settings.chroma_collection)
    days = kb.search("what are your delivery days", k=4)
    assert any("Tuesday, Thursday and Saturday" in p["text"] for p in days[:2])
    pay = kb.search("how long do I have to pay my invoice", k=4)
    assert pay[0]["document"] == "Payment and Invoicing" and "30 days" in pay[0]["text"]
    assert all(0 <= p["score"] <= 1 for p in pay)


@pytest.mark.slow
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
