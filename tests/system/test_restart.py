"""A pending order confirmation survives a process restart, on both backends.

The real server runs as a subprocess (uvicorn): embedded on a private copy of the
seeded VAR_DIR (SQLite data and checkpoints), or on a private Postgres database and
Redis prefix. It is killed with SIGKILL while an order waits for "yes", and a new
process on the same storage places the order, once, when the customer says "yes".
"""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.conftest import db_rows, make_settings
from tests.support import backends
from tests.support.servers import ServerProcess, postgres_env, private_var, turns

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", backends.BACKENDS)
def test_pending_confirmation_survives_a_restart(backend, seeded_var, embeddings, tmp_path, request):
    var = private_var(seeded_var, tmp_path / "var", embeddings)
    if backend == "embedded":
        env, where = None, var
    else:
        url = request.getfixturevalue("postgres_url")
        env = postgres_env(url, request.getfixturevalue("redis_prefix"))
        where = make_settings(var, DATABASE_URL=url)
    session, customer = "restart-1", "OUT-001"
    count_sql = "SELECT count(*) AS n FROM orders WHERE customer_id = :c"
    orders_before = db_rows(where, count_sql, c=customer)[0].n

    servers: list[ServerProcess] = []
    try:
        with httpx.Client(timeout=30) as client:
            first = ServerProcess(var, tmp_path / "first.log", env)
            servers.append(first)
            first.wait_ready(client)
            drafted = first.chat(client, "I need 200 12 inch pizza boxes", session, customer)
            assert drafted["pending_confirmation"] is True, drafted
            assert "141.70" in drafted["reply"]

            first.kill()
            assert first.proc.returncode == -signal.SIGKILL
            assert db_rows(where, count_sql, c=customer)[0].n == orders_before

            second = ServerProcess(var, tmp_path / "second.log", env)
            servers.append(second)
            second.wait_ready(client)
            placed = second.chat(client, "yes", session, customer)
            transcript = client.get(
                f"{second.url}/api/sessions/{session}/messages", params={"customer_id": customer},
                headers=second.auth(customer),
            )
    finally:
        for server in servers:
            server.kill()

    assert placed["pending_confirmation"] is False, placed
    order = placed["order"]
    assert order is not None, placed
    assert order["number"].startswith("SO-") and order["number"] in placed["reply"]
    assert order["total"] == "141.70"
    assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("PB-12", 200)]
    assert placed["invoice"]["order_number"] == order["number"]

    rows = db_rows(where, "SELECT id, customer_id, draft_id, status FROM orders WHERE number = :n", n=order["number"])
    assert len(rows) == 1
    assert rows[0].customer_id == customer and rows[0].status == "confirmed"
    assert rows[0].draft_id, "the order remembers the draft it came from"
    same_draft = db_rows(where, "SELECT count(*) AS n FROM orders WHERE draft_id = :d", d=rows[0].draft_id)
    assert same_draft[0].n == 1
    assert db_rows(where, count_sql, c=customer)[0].n == orders_before + 1
    lines = db_rows(where, "SELECT sku, quantity FROM order_lines WHERE order_id = :o", o=rows[0].id)
    assert [(l.sku, l.quantity) for l in lines] == [("PB-12", 200)]
    invoices = db_rows(where, "SELECT number FROM invoices WHERE order_id = :o", o=rows[0].id)
    assert [i.number for i in invoices] == [placed["invoice"]["number"]]

    # The transcript written by the killed process and by its successor.
    assert transcript.status_code == 200, f"{transcript.status_code} {transcript.text}\n{second.output()}"
    assert turns(transcript.json()["messages"]) == [
        ("customer", "I need 200 12 inch pizza boxes"),
        ("assistant", drafted["reply"]),
        ("customer", "yes"),
        ("assistant", placed["reply"]),
    ]
