"""Xero's per-tenant limits: 60 calls a minute and 5 at once (and 5,000 a day).

`slot(tenant)` is held around every HTTP call. It waits until the tenant has had
fewer than `per_minute` calls in the last 60 s (a sliding log) and fewer than
`concurrent` are in flight. Xero's answers adjust it: X-MinLimit-Remaining of 0
(another app of the same organisation used the minute up) or a 429's Retry-After
pause the tenant until the window frees.

LocalRateLimiter counts within this process; RedisRateLimiter (when REDIS_URL is
set) counts across every process sharing the Redis, with the same Lua-scripted log.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

# Xero counts a minute from when calls arrive; this log stamps them when they start, up
# to 5 at once, so a call started just inside our window can land just outside Xero's.
# A second of margin keeps our count at or above Xero's.
WINDOW = 61.0


def retry_after_seconds(headers, default: float = 1.0) -> float:
    try:
        return max(0.0, float((headers or {}).get("Retry-After")))
    except (TypeError, ValueError):
        return default


def minute_remaining(headers) -> int | None:
    try:
        return int((headers or {}).get("X-MinLimit-Remaining"))
    except (TypeError, ValueError):
        return None


class LocalRateLimiter:
    def __init__(self, per_minute: int = 60, concurrent: int = 5) -> None:
        self.per_minute = per_minute
        self.concurrent = concurrent
        self._cond = threading.Condition()
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._paused_until: dict[str, float] = defaultdict(float)

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        with self._cond:
            while True:
                now = time.monotonic()
                calls = self._calls[tenant]
                while calls and calls[0] <= now - WINDOW:
                    calls.popleft()
                wait = self._paused_until[tenant] - now
                if len(calls) >= self.per_minute:
                    wait = max(wait, calls[0] + WINDOW - now)
                if wait <= 0 and self._in_flight[tenant] < self.concurrent:
                    break
                self._cond.wait(timeout=wait if wait > 0 else None)
            calls.append(now)
            self._in_flight[tenant] += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight[tenant] -= 1
                self._cond.notify_all()

    def pause(self, tenant: str, seconds: float) -> None:
        with self._cond:
            until = time.monotonic() + seconds
            self._paused_until[tenant] = max(self._paused_until[tenant], until)
            self._cond.notify_all()

    def observe(self, tenant: str, headers) -> None:
        """Xero says how many calls are left this minute; 0 pauses until the window frees."""
        remaining = minute_remaining(headers)
        if remaining is not None and remaining <= 0:
            with self._cond:
                calls = self._calls[tenant]
                oldest = calls[0] if calls else time.monotonic()
            self.pause(tenant, max(0.0, oldest + WINDOW - time.monotonic()))


# KEYS: calls log, in-flight set, pause key. ARGV: now, window, per_minute, concurrent,
# holder id, holder expiry. Returns 0 when the slot is taken, else seconds to wait.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local paused = tonumber(redis.call('GET', KEYS[3]) or '0')
if paused > now then return tostring(paused - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + tonumber(ARGV[2]) - now)
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return '0.05' end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], tonumber(ARGV[6]), ARGV[5])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 5)
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[2])) + 5)
return '0'
"""


class RedisRateLimiter(LocalRateLimiter):
    """The same limits shared by every process on one Redis (time from Redis's clock
    would be better; processes on one host share a clock, which is what we run)."""

    def __init__(self, url: str, prefix: str, per_minute: int = 60, concurrent: int = 5, call_timeout: float = 60.0) -> None:
        import redis

        super().__init__(per_minute, concurrent)
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.call_timeout = call_timeout
        self._acquire = self.client.register_script(_ACQUIRE)

    def _keys(self, tenant: str) -> list[str]:
        base = f"{self.prefix}:xero:{tenant}"
        return [f"{base}:calls", f"{base}:inflight", f"{base}:paused"]

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        keys = self._keys(tenant)
        holder = uuid.uuid4().hex
        while True:
            now = time.time()
            wait = float(self._acquire(keys, [now, WINDOW, self.per_minute, self.concurrent, holder, now + self.call_timeout]))
            if wait <= 0:
                break
            time.sleep(min(wait, 1.0))
        try:
            yield
        finally:
            self.client.zrem(keys[1], holder)

    def pause(self, tenant: str, seconds: float) -> None:
        key = self._keys(tenant)[2]
        until = time.time() + seconds
        current = float(self.client.get(key) or 0)
        if until > current:
            self.client.set(key, until, ex=max(1, int(seconds) + 1))

    def observe(self, tenant: str, headers) -> None:
        remaining = minute_remaining(headers)
        if remaining is not None and remaining <= 0:
            oldest = self.client.zrange(self._keys(tenant)[0], 0, 0, withscores=True)
            start = oldest[0][1] if oldest else time.time()
            self.pause(tenant, max(0.0, start + WINDOW - time.time()))
