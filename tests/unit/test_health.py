"""tria_graph.health with fake probes: which failures make the bot degraded."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from tria_graph.adapters.cache import MemoryCache, RedisCache
from tria_graph.health import check_health, not_loaded


def failing():
    raise ConnectionError("down")


class FakeRedisCache(RedisCache):
    """A RedisCache (so it is probed) whose ping answers or fails without a server."""

    def __init__(self, up: bool) -> None:
        self.up = up

    def ping(self) -> None:
        if not self.up:
            failing()


def context(database=True, chroma=True, redis: bool | None = None, openai: str | None = None, xero="not_configured"):
    """A Context stand-in with just what the probes touch."""
    return SimpleNamespace(
        database=SimpleNamespace(ping=(lambda: None) if database else failing),
        policy_kb=SimpleNamespace(count=(lambda: 42) if chroma else failing),
        cache=MemoryCache({}) if redis is None else FakeRedisCache(redis),
        invoices=SimpleNamespace(status=lambda: xero),
        llm=None if openai is None else SimpleNamespace(status=lambda: openai),
    )


def report(**kwargs):
    return asyncio.run(check_health(context(**kwargs)))


def test_all_connected_is_healthy_and_every_probe_is_timed():
    healthy = report(redis=True, openai="closed", xero="closed")
    assert healthy.status == "healthy"
    assert (healthy.database, healthy.redis, healthy.chromadb) == ("connected", "connected", "connected")
    assert set(healthy.latency_ms) == {"database", "chromadb", "redis"}
    assert all(ms >= 0 for ms in healthy.latency_ms.values())
    assert healthy.circuit_breakers == {"xero": "closed", "openai": "closed", "database": "closed"}


def test_an_in_process_cache_is_not_probed():
    embedded = report()
    assert embedded.status == "healthy"
    assert embedded.redis == "not_configured"
    assert set(embedded.latency_ms) == {"database", "chromadb"}
    assert embedded.circuit_breakers["openai"] == "not_configured"


def test_redis_down_is_degraded():
    down = report(redis=False)
    assert (down.status, down.redis) == ("degraded", "disconnected")


def test_the_openai_breaker_open_is_degraded_but_half_open_is_not():
    assert report(openai="open").status == "degraded"
    assert report(openai="half_open").status == "healthy"


def test_the_xero_breaker_open_is_reported_but_still_healthy():
    xero_open = report(xero="open")
    assert (xero_open.status, xero_open.circuit_breakers["xero"]) == ("healthy", "open")


def test_database_or_knowledge_base_down_is_degraded():
    assert (report(database=False).status, report(database=False).database) == ("degraded", "disconnected")
    assert (report(chroma=False).status, report(chroma=False).chromadb) == ("degraded", "disconnected")


def test_not_loaded_is_starting_or_unhealthy():
    assert not_loaded(failed=False).status == "starting"
    failed = not_loaded(failed=True)
    assert (failed.status, failed.database, failed.redis, failed.chromadb) == (
        "unhealthy", "not_loaded", "not_configured", "not_loaded"
    )
    assert failed.latency_ms == {}
