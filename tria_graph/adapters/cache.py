"""Caches with a time-to-live: in process (embedded mode) or in Redis (shared by replicas).

Both implement `Cache`: `get(cache, key)` and `set(cache, key, value)` where `cache`
names one of the caches below, each with its TTL from settings. Values are JSON.
Redis failing is never an error for the caller: a failed read is a miss and a failed
write is skipped (fail open), counted in metrics and reported by `/health`.

Keys are built by the callers from what the cached value depends on, never from who
asked; see `cache_key`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Protocol

from cachetools import TTLCache

from ..config import Settings
from ..extras import require
from ..metrics import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES

log = logging.getLogger(__name__)

# The caches and the setting that gives each one's TTL in seconds.
INTENT = "intent"  # classifier output for a message text
POLICY = "policy"  # retrieved passages for a question
RESPONSE = "response"  # whole replies that cannot depend on who asks
CACHES = (INTENT, POLICY, RESPONSE)


def ttls(settings: Settings) -> dict[str, int]:
    return {INTENT: settings.intent_ttl, POLICY: settings.policy_ttl, RESPONSE: settings.response_ttl}


def cache_key(*parts: str) -> str:
    """A fixed-length key from the parts a value depends on (texts, model versions)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Cache(Protocol):
    def get(self, cache: str, key: str) -> Any | None: ...
    def set(self, cache: str, key: str, value: Any) -> None: ...


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class MemoryCache:
    """Per-process caches (cachetools TTLCache), for embedded mode and tests."""

    def __init__(self, ttl_seconds: dict[str, int], max_entries: int = 10_000) -> None:
        self._caches = {name: TTLCache(max_entries, ttl) for name, ttl in ttl_seconds.items() if ttl > 0}
        self._lock = threading.Lock()  # TTLCache is not thread-safe; nodes run in threads

    def get(self, cache: str, key: str) -> Any | None:
        store = self._caches.get(cache)
        with self._lock:
            raw = store.get(key) if store is not None else None
        (CACHE_MISSES if raw is None else CACHE_HITS).labels(cache).inc()
        return None if raw is None else json.loads(raw)

    def set(self, cache: str, key: str, value: Any) -> None:
        store = self._caches.get(cache)
        if store is not None:
            with self._lock:
                store[key] = _encode(value)  # stored as JSON so hits are copies


class RedisCache:
    """Caches in Redis under `{prefix}:{cache}:{key}` with per-cache TTLs.

    Timeouts are short: a slow or absent Redis costs a turn milliseconds, not seconds.
    After a failure Redis is left alone for `retry_after` seconds, so an outage does
    not add a connection attempt to every lookup.
    """

    def __init__(
        self,
        url: str,
        ttl_seconds: dict[str, int],
        prefix: str = "tria",
        timeout: float = 0.25,
        retry_after: float = 5.0,
    ) -> None:
        redis = require("redis", "redis")
        self._errors = redis.RedisError
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
        self.ttls = ttl_seconds
        self.prefix = prefix
        self.retry_after = retry_after
        self._down_until = 0.0

    def _name(self, cache: str, key: str) -> str:
        return f"{self.prefix}:{cache}:{key}"

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, cache: str, exc: Exception) -> None:
        CACHE_ERRORS.labels(cache).inc()
        if self._available():
            log.warning("redis unavailable, answering uncached for %.0f s: %s", self.retry_after, exc)
        self._down_until = time.monotonic() + self.retry_after

    def get(self, cache: str, key: str) -> Any | None:
        raw = None
        if self.ttls.get(cache, 0) > 0 and self._available():
            try:
                raw = self.client.get(self._name(cache, key))
            except self._errors as exc:
                self._failed(cache, exc)
        (CACHE_MISSES if raw is None else CACHE_HITS).labels(cache).inc()
        return None if raw is None else json.loads(raw)

    def set(self, cache: str, key: str, value: Any) -> None:
        ttl = self.ttls.get(cache, 0)
        if ttl <= 0 or not self._available():
            return
        try:
            self.client.set(self._name(cache, key), _encode(value), ex=ttl)
        except self._errors as exc:
            self._failed(cache, exc)

    def ping(self) -> None:
        """Raise unless Redis answers (used by /health, which also clears a failure)."""
        self.client.ping()
        self._down_until = 0.0
