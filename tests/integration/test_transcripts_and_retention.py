"""Transcripts (every message, queryable), bounded checkpoints, and pruning old
conversations, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from tests.conftest import SGT, db_rows
from tests.support import backends
from tests.integration.test_server import assert_error, serving, wait_ready
from tria_graph.adapters.database import transcript_id
from tria_graph.cli import app as cli
from tria_graph.config import get_settings


@pytest.fixture(params=backends.BACKENDS)
def backend(request) -> str:
    return request.param


def env_of(settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
    }


def checkpoint_rows(settings, session_id: str) -> int:
    if settings.uses_postgres:
        return db_rows(settings, "SELECT count(*) AS n FROM checkpoints WHERE thread_id = :t", t=session_id)[0].n
    import sqlite3

    with sqlite3.connect(settings.resolved_checkpoint_db) as conn:
        return conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?", (session_id,)).fetchone()[0]


def test_transcript_endpoint_returns_the_whole_conversation_to_its_owner(settings):
    with serving(settings.var_dir, env=env_of(settings)) as client:
        wait_ready(client)
        said = ["hi", "what are your delivery days", "I need 200 12 inch pizza boxes", "no"]
        replies = []
        for message in said:
            response = client.post("/api/chatbot", json={"message": message, "session_id": "t-1", "customer_id": "OUT-001"})
            assert response.status_code == 200, response.text
            replies.append(response.json())

        response = client.get("/api/sessions/t-1/messages", params={"customer_id": "OUT-001"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["session_id"] == "t-1" and body["customer_id"] == "OUT-001"
        expected = []
        for message, reply in zip(said, replies):
            expected += [("customer", message, None), ("assistant", reply["reply"], reply["intent"])]
        assert [(m["role"], m["content"], m["intent"]) for m in body["messages"]] == expected
        assert all(m["at"] for m in body["messages"])

        other = client.get("/api/sessions/t-1/messages", params={"customer_id": "OUT-002"})
        assert_error(other, 403, "forbidden")
        assert "pizza" not in other.text
        assert_error(client.get("/api/sessions/nope/messages", params={"customer_id": "OUT-001"}), 404, "unknown_session")
        # Without customer_id the token names the outlet (here OUT-001, the owner).
        assert client.get("/api/sessions/t-1/messages").json()["customer_id"] == "OUT-001"
        assert_error(client.get("/api/sessions/t-1/messages", params={"customer_id": "x" * 40}), 422, "invalid_request")

    # Operators read the same with SQL, joining the session to its transcript.
    rows = db_rows(
        settings,
        "SELECT m.message FROM chat_sessions s JOIN chat_messages m ON m.session_id = s.transcript_id "
        "WHERE s.session_id = 't-1' ORDER BY m.id",
    )
    assert len(rows) == 8


def test_stored_state_stays_bounded_as_a_conversation_grows(chat, settings):
    keep = settings.history_turns
    turns = 2 * keep + 3
    for i in range(turns):
        chat.send("what are your delivery days" if i % 2 else "hello")
    state = chat.state()
    assert len(state["messages"]) == 2 * keep  # the last `keep` turns, verbatim
    assert state["summary"]["turns"] == turns
    assert state["summary"]["intents"] == {"greeting": keep + 2, "policy_question": keep + 1}
    # Superseded checkpoints are dropped every `keep` turns, so at most `keep` remain.
    assert 1 <= checkpoint_rows(settings, "s-1") <= keep
    # The transcript still has every message.
    assert len(chat.run(chat.service.transcript("s-1", "OUT-001"))) == 2 * turns


def test_a_pending_confirmation_survives_compaction(chat, settings):
    for _ in range(settings.history_turns - 1):
        chat.send("hello")
    assert chat.send("I need 200 12 inch pizza boxes").pending_confirmation  # compaction turn
    placed = chat.send("yes")
    assert placed.order and placed.order["lines"][0]["quantity"] == 200


def test_prune_removes_idle_conversations_and_keeps_recent_ones(chat, settings, clock, monkeypatch):
    clock.now = datetime(2026, 9, 1, 10, 0, tzinfo=SGT)
    chat.send("hello", session_id="old")
    chat.send("I need 200 12 inch pizza boxes", session_id="old")
    orders_before = db_rows(settings, "SELECT count(*) AS n FROM orders")[0].n
    clock.now = datetime.now(SGT) - timedelta(days=1)
    chat.send("hello", session_id="recent")
    chat.close()

    monkeypatch.setenv("VAR_DIR", str(settings.var_dir))
    for name, value in env_of(settings).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["admin", "prune", "--older-than", "30d"])
        bad = CliRunner().invoke(cli, ["admin", "prune", "--older-than", "soon"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Removed 1 conversation" in result.output
    assert bad.exit_code == 2 and "30d" in bad.output

    assert checkpoint_rows(settings, "old") == 0
    assert checkpoint_rows(settings, "recent") >= 1
    sessions = {r.session_id for r in db_rows(settings, "SELECT session_id FROM chat_sessions")}
    assert "old" not in sessions and "recent" in sessions
    messages = db_rows(settings, "SELECT session_id FROM chat_messages")
    ids = {str(r.session_id).replace("-", "") for r in messages}
    assert transcript_id("old").hex not in ids and transcript_id("recent").hex in ids
    # Business records stay.
    assert db_rows(settings, "SELECT count(*) AS n FROM orders")[0].n == orders_before
