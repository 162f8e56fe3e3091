"""The caches' own rules: entries expire after their TTL, and Redis being down is a miss.

With real backends (one customer's answer never reaching another, locks) in
tests/integration/test_cache_and_locks.py."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from tria_graph.adapters.cache import INTENT, POLICY, MemoryCache, RedisCache, ttls
from tria_graph.config import Settings


def counter(name: str, cache: str) -> float:
    return REGISTRY.get_sample_value(name, {"cache": cache}) or 0.0


def test_memory_cache_forgets_after_its_ttl():
    cache = MemoryCache({INTENT: 1, POLICY: 0})
    cache.set(INTENT, "k", ["greeting", 0.9])
    cache.set(POLICY, "k", [{"text": "x"}])  # TTL 0: this cache is off
    assert cache.get(INTENT, "k") == ["greeting", 0.9]
    assert cache.get(POLICY, "k") is None
    time.sleep(1.1)
    assert cache.get(INTENT, "k") is None


def test_redis_down_is_a_miss_not_an_error(tmp_path):
    cache = RedisCache("redis://127.0.0.1:1/0", ttls(Settings(VAR_DIR=str(tmp_path))), prefix="nowhere")
    errors_before = counter("tria_cache_errors_total", INTENT)
    started = time.perf_counter()
    for _ in range(20):
        cache.set(INTENT, "k", ["greeting", 1.0])
        assert cache.get(INTENT, "k") is None
    assert time.perf_counter() - started < 2.0, "an outage must not slow every lookup"
    assert counter("tria_cache_errors_total", INTENT) > errors_before
