"""Settings from the environment, and how policy documents become passages.

The knowledge base's search and the `tria` command are in tests/integration/test_kb.py."""

from __future__ import annotations

from datetime import time

from tria_graph.adapters.policy_kb import split_markdown
from tria_graph.config import Settings


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
