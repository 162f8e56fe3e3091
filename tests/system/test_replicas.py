"""Two server processes (replicas) on one Postgres database and one Redis prefix.

Any replica may answer any turn of a conversation: the state is in the Postgres
checkpoint, the transcript in Postgres, and the Redis session lock keeps two turns of
one session from running at once even when they arrive at different replicas.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support import backends
from tests.conftest import db_rows, make_settings
from tests.support.servers import ServerProcess, postgres_env, private_var, turns

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def replicas(postgres_template, seeded_var, embeddings, tmp_path_factory):
    """Replicas A and B (both ready) and Settings on their shared database."""
    redis_client = backends.require_redis()
    database = backends.create_database(template=postgres_template)
    url = backends.database_url(database)
    prefix = f"tria-test-{uuid.uuid4().hex[:12]}"
    tmp = tmp_path_factory.mktemp("replicas")
    var = private_var(seeded_var, tmp / "var", embeddings)
    env = postgres_env(url, prefix)
    servers: list[ServerProcess] = []
    try:
        # Both load their model at the same time, as replicas of one deployment do.
        servers = [ServerProcess(var, tmp / f"{name}.log", env) for name in ("a", "b")]
        with httpx.Client(timeout=30) as client:
            for server in servers:
                server.wait_ready(client)
        yield servers[0], servers[1], make_settings(var, DATABASE_URL=url)
    finally:
        for server in servers:
            server.kill()
        backends.delete_keys(redis_client, prefix)
        redis_client.close()
        backends.drop_database(database)


def test_one_conversation_alternating_between_replicas(replicas):
    a, b, settings = replicas
    session, customer = "alternating-1", "OUT-001"
    count_sql = "SELECT count(*) AS n FROM orders WHERE customer_id = :c"
    orders_before = db_rows(settings, count_sql, c=customer)[0].n

    with httpx.Client(timeout=30) as client:
        hello = a.chat(client, "hi", session, customer)
        assert hello["intent"] == "greeting", hello

        days = b.chat(client, "what are your delivery days", session, customer)
        assert "Tuesday, Thursday and Saturday" in days["reply"], days

        drafted = a.chat(client, "I need 200 12 inch pizza boxes", session, customer)
        assert drafted["pending_confirmation"] is True, drafted
        assert drafted["order"] is None
        assert "141.70" in drafted["reply"]
        assert db_rows(settings, count_sql, c=customer)[0].n == orders_before, "nothing is ordered before yes"

        # B never saw the draft: it knows it only from the shared checkpoint.
        placed = b.chat(client, "yes", session, customer)
        assert placed["pending_confirmation"] is False, placed
        order = placed["order"]
        assert order is not None, placed
        assert order["number"].startswith("SO-") and order["number"] in placed["reply"]
        assert [(l["sku"], l["quantity"]) for l in order["lines"]] == [("PB-12", 200)]
        assert order["total"] == "141.70"
        invoice = placed["invoice"]
        assert invoice is not None and invoice["order_number"] == order["number"]

        status = a.chat(client, f"where is my order {order['number']}", session, customer)
        assert status["intent"] == "order_status", status
        assert status["order"] is not None and status["order"]["number"] == order["number"], status
        assert order["number"] in status["reply"]
        assert status["pending_confirmation"] is False

        from_a = a.transcript(client, session, customer)
        from_b = b.transcript(client, session, customer)

    # Exactly one order, with the draft's lines, and exactly one invoice for it.
    assert db_rows(settings, count_sql, c=customer)[0].n == orders_before + 1
    rows = db_rows(settings, "SELECT id, customer_id, status, draft_id FROM orders WHERE number = :n", n=order["number"])
    assert len(rows) == 1 and rows[0].customer_id == customer and rows[0].status == "confirmed"
    assert db_rows(settings, "SELECT count(*) AS n FROM orders WHERE draft_id = :d", d=rows[0].draft_id)[0].n == 1
    lines = db_rows(settings, "SELECT sku, quantity FROM order_lines WHERE order_id = :o", o=rows[0].id)
    assert [(l.sku, l.quantity) for l in lines] == [("PB-12", 200)]
    invoices = db_rows(settings, "SELECT number FROM invoices WHERE order_id = :o", o=rows[0].id)
    assert [i.number for i in invoices] == [invoice["number"]]

    # The whole conversation, in order, whichever replica is asked.
    replies = [hello, days, drafted, placed, status]
    sent = ["hi", "what are your delivery days", "I need 200 12 inch pizza boxes", "yes", f"where is my order {order['number']}"]
    expected = []
    for message, reply in zip(sent, replies):
        expected += [("customer", message), ("assistant", reply["reply"])]
    assert turns(from_a) == expected
    assert from_b == from_a
    assert [m["intent"] for m in from_a[1::2]] == [r["intent"] for r in replies]
    assert all(m["at"] for m in from_a), "every message is timestamped"


def test_concurrent_turns_of_one_session_on_two_replicas_run_one_at_a_time(replicas):
    """20 messages of one session at once, 10 to each replica: the Redis lock must
    serialise them, so each reply directly follows its own message and no turn's
    checkpoint write is lost."""
    a, b, settings = replicas
    session, customer = "burst-1", "OUT-001"
    # Unknown order numbers: a full graph turn each, with a reply naming its number.
    sent = [f"status of SO-990{i:02d}?" for i in range(20)]

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=90) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{(a if i % 2 else b).url}/api/chatbot",
                        json={"message": message, "session_id": session, "customer_id": customer},
                        headers=a.auth(customer),
                    )
                    for i, message in enumerate(sent)
                )
            )

    responses = asyncio.run(burst())
    failed = [(m, r.status_code, r.text) for m, r in zip(sent, responses) if r.status_code != 200]
    assert not failed, f"{failed}\nA:\n{a.output()}\nB:\n{b.output()}"
    reply_to = {message: r.json()["reply"] for message, r in zip(sent, responses)}
    for message, reply in reply_to.items():
        assert message.removeprefix("status of ").removesuffix("?") in reply, (message, reply)

    with httpx.Client(timeout=30) as client:
        messages = b.transcript(client, session, customer)

    roles = [m["role"] for m in messages]
    assert roles == ["customer", "assistant"] * 20, roles
    asked = [m["content"] for m in messages[::2]]
    assert sorted(asked) == sorted(sent), "every message recorded exactly once"
    for question, answer in zip(messages[::2], messages[1::2]):
        assert answer["content"] == reply_to[question["content"]], "a reply is not next to its own message"

    # The graph state saw all 20 turns: no replica wrote over another's checkpoint.
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(settings.postgres_conninfo) as saver:
        checkpoint = saver.get_tuple({"configurable": {"thread_id": session}}).checkpoint
    values = checkpoint["channel_values"]
    assert values["summary"]["turns"] == 20, values["summary"]
    kept = [m.content for m in values["messages"]]
    keep = 2 * settings.history_turns
    assert kept == [m["content"] for m in messages[-keep:]], "the checkpoint's recent history matches the transcript"
