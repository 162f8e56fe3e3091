"""One turn at a time per session: in process, or across replicas through Redis.

Two messages of one conversation arriving together (a double-tap, two replicas) must
not both read the same checkpoint and write over each other. `hold(session_id)` waits
for the session's lock; with Redis every replica waits on the same lock.

The Redis lock expires after `timeout` seconds so a replica killed mid-turn cannot
block its session for ever. If Redis is unreachable the lock falls back to the
process's own lock (fail open): turns still run one at a time within a replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..extras import require
from ..metrics import LOCK_WAIT

log = logging.getLogger(__name__)


class SessionBusy(Exception):
    """The session's lock could not be taken in time (another turn is stuck)."""


class LocalSessionLocks:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock_for(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        async with self.lock_for(session_id):
            LOCK_WAIT.observe(time.perf_counter() - started)
            yield


class RedisSessionLocks:
    def __init__(self, url: str, prefix: str = "tria", timeout: float = 60.0, retry_after: float = 5.0) -> None:
        require("redis", "redis")
        import redis
        import redis.asyncio as aredis

        self._redis_error = redis.RedisError
        # A release fails when Redis went away or the lock expired.
        self._release_errors = (redis.RedisError, redis.exceptions.LockError)
        self.client = aredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.prefix = prefix
        self.timeout = timeout
        # After a failure, Redis is skipped this long so an outage does not cost every
        # turn a connection timeout.
        self.retry_after = retry_after
        self._down_until = 0.0
        # Within this process, waiters queue on a local lock first, so only one of
        # them at a time polls Redis.
        self.local = LocalSessionLocks()

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        async with self.local.lock_for(session_id):
            lock = self.client.lock(
                f"{self.prefix}:lock:session:{session_id}",
                timeout=self.timeout,
                sleep=0.01,
                blocking_timeout=self.timeout,
            )
            acquired = None
            if time.monotonic() >= self._down_until:
                try:
                    acquired = await lock.acquire()
                except self._redis_error as exc:
                    log.warning("redis lock unavailable, using the local lock only: %s", exc)
                    self._down_until = time.monotonic() + self.retry_after
            if acquired is False:
                raise SessionBusy(session_id)
            LOCK_WAIT.observe(time.perf_counter() - started)
            try:
                yield
            finally:
                if acquired:
                    try:
                        await lock.release()
                    except self._release_errors as exc:
                        # Expired (the turn outlived the timeout) or Redis went away.
                        log.warning("could not release the lock of %s: %s", session_id, exc)

    async def aclose(self) -> None:
        await self.client.aclose()
