"""Caches (in process or Redis) and per-session locks, on both backends.

The caches must never hand one customer's answer to another; the locks must run
concurrent turns of one session one after the other, none lost or interleaved.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import AsyncExitStack

import pytest
from prometheus_client import REGISTRY

from tests.support import backends
from tests.conftest import make_settings
from tria_graph.adapters.cache import CACHES, INTENT, POLICY, RESPONSE, RedisCache, ttls
from tria_graph.bootstrap import open_chat_service


@pytest.fixture(params=backends.BACKENDS)
def backend(request) -> str:
    return request.param


def counter(name: str, cache: str) -> float:
    return REGISTRY.get_sample_value(name, {"cache": cache}) or 0.0


def cached_values(cache) -> list[str]:
    """Every value stored in a MemoryCache or under a RedisCache's prefix, as text."""
    if isinstance(cache, RedisCache):
        return [cache.client.get(k).decode() for k in cache.client.scan_iter(f"{cache.prefix}:*")]
    return [value for store in cache._caches.values() for value in store.values()]


# --- the cache implementations --------------------------------------------------------


def test_redis_cache_keys_carry_the_ttls_from_settings(redis_prefix, tmp_path):
    settings = make_settings(tmp_path, INTENT_TTL="3600", POLICY_TTL="43200", RESPONSE_TTL="1800")
    cache = RedisCache(backends.REDIS_URL, ttls(settings), prefix=redis_prefix)
    for name in CACHES:
        cache.set(name, "key", {"value": name})
        assert cache.get(name, "key") == {"value": name}
    expected = {INTENT: 3600, POLICY: 43200, RESPONSE: 1800}
    for name, ttl in expected.items():
        remaining = cache.client.ttl(f"{redis_prefix}:{name}:key")
        assert ttl - 5 <= remaining <= ttl, (name, remaining)


# --- no answer crosses customers ------------------------------------------------------


def test_no_cached_answer_reaches_another_customer(chat, context):
    question = "What are your payment terms?"
    first = chat.send(question, customer_id="OUT-001", session_id="a")
    hits = counter("tria_cache_hits_total", RESPONSE)
    second = chat.send(question, customer_id="OUT-002", session_id="b")
    # The same policy answer, served from the response cache to the second outlet.
    assert second.reply == first.reply
    assert counter("tria_cache_hits_total", RESPONSE) == hits + 1

    # The same words about "my order" get each outlet its own order.
    mine = chat.send("where is my latest order", customer_id="OUT-001", session_id="a")
    theirs = chat.send("where is my latest order", customer_id="OUT-002", session_id="b")
    repo = context.orders
    assert mine.order["number"] == repo.latest_order("OUT-001")["number"]
    assert theirs.order["number"] == repo.latest_order("OUT-002")["number"]
    assert mine.order["number"] != theirs.order["number"]
    assert theirs.order["number"] not in mine.reply and mine.order["number"] not in theirs.reply

    # A greeting names the contact, so it is never cached; nothing cached names anyone.
    chat.send("hello", customer_id="OUT-001", session_id="a")
    stored = cached_values(chat.service.context.cache)
    assert stored, "the caches were used"
    outlets = [repo.outlet(f"OUT-{i:03d}") for i in range(1, 13)]
    forbidden = [o["customer_id"] for o in outlets] + [o["name"] for o in outlets] + [o["contact_name"] for o in outlets]
    for value in stored:
        assert not re.search(r"SO-\d+|INV-\d+", value), value
        for word in forbidden:
            assert word not in value, (word, value)


def test_cached_policy_answers_follow_the_clock_when_they_name_a_date(chat, clock):
    from datetime import datetime

    from tests.conftest import SGT

    before = chat.send("if I place an order today, which day will it arrive", customer_id="OUT-001", session_id="c")
    clock.now = datetime(2026, 11, 24, 15, 0, tzinfo=SGT)  # Tuesday afternoon
    after = chat.send("if I place an order today, which day will it arrive", customer_id="OUT-002", session_id="d")
    assert "Tuesday 24 Nov 2026" in before.reply
    assert "Tuesday 24 Nov 2026" not in after.reply and "Thursday 26 Nov 2026" in after.reply


# --- one turn at a time per session ---------------------------------------------------


def assert_serial(messages, sent: list[str]) -> None:
    """Each customer message is followed by its own reply before the next message."""
    kinds = [m.type for m in messages]
    assert kinds == ["human", "ai"] * len(sent), kinds
    assert sorted(m.content for m in messages[::2]) == sorted(sent)


def test_twenty_concurrent_messages_on_one_session_are_served_in_turn(chat):
    sent = [f"what is the price of item number {i}" for i in range(20)]

    async def burst():
        return await asyncio.gather(*(chat.service.send("busy", "OUT-001", m) for m in sent))

    results = chat.run(burst())
    assert len(results) == 20 and all(r.reply for r in results)
    messages = chat.run(chat.service.transcript("busy", "OUT-001"))
    assert_serial(messages, sent)
    assert chat.state("busy")["summary"]["turns"] == 20


@pytest.mark.parametrize("backend", [backends.POSTGRES])
def test_two_replicas_serve_one_session_in_turn(settings, embeddings, clock):
    """Two services on one Postgres and Redis (two replicas in one process): only the
    Redis lock keeps their turns of one session apart."""
    sent = [f"do you sell item {i}" for i in range(20)]

    async def run():
        async with AsyncExitStack() as stack:
            a = await stack.enter_async_context(open_chat_service(settings, embeddings=embeddings, clock=clock))
            b = await stack.enter_async_context(open_chat_service(settings, embeddings=embeddings, clock=clock))
            await asyncio.gather(*((a if i % 2 else b).send("shared", "OUT-001", m) for i, m in enumerate(sent)))
            state = (await a.graph.aget_state({"configurable": {"thread_id": "shared"}})).values
            return await a.transcript("shared", "OUT-001"), state

    loop = asyncio.new_event_loop()
    try:
        messages, state = loop.run_until_complete(run())
    finally:
        loop.close()
    assert_serial(messages, sent)
    assert state["summary"]["turns"] == 20, "a turn was lost: two replicas wrote over each other"


def test_cache_values_are_json(chat):
    chat.send("what are your delivery days", customer_id="OUT-003", session_id="j")
    for value in cached_values(chat.service.context.cache):
        json.loads(value)
