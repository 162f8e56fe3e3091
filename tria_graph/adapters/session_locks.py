"""One turn at a time per session: in process, or across replicas through Redis.

Two messages of one conversation arriving together (a double-tap, two replicas) must
not both read the same checkpoint and write over each other. `hold(session_id)` waits
for the session's lock; with Redis every replica waits on the same lock.

The Redis lock expires after `timeout` seconds so a replica killed mid-turn cannot
block its session for ever. If Redis is unreachable the lock falls back to the
process's own lock (fail open): turns still run one at a time within a replica.

Without Redis, several worker processes on one machine share a session's lock
through a lock file (`FileSessionLocks`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import filelock

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


class FileSessionLocks:
    """One turn at a time per session across the processes of one machine: the
    embedded backend (no REDIS_URL) served by several workers (`uvicorn --workers N`,
    WORKERS), which share VAR_DIR but no memory.

    Each session's lock is an flock (the `filelock` package) on
    `<directory>/<sha256 of the session id>.lock`, so any session id is a safe file name.
    The kernel drops a killed process's flock, so a lock file left behind is harmless
    (the files stay: deleting one while another process waits on it would split the
    lock in two). Within a process, waiters queue on a local lock first; the one in
    front then tries the file lock without blocking, every `poll` seconds (so the event
    loop never waits in flock), for at most `timeout` seconds (SESSION_LOCK_TIMEOUT)
    before raising SessionBusy. Unlike the Redis lock it does not expire while held: a
    live holder keeps it until its turn ends.
    """

    def __init__(self, directory: str | os.PathLike[str], timeout: float = 60.0, poll: float = 0.005) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.poll = poll
        self.local = LocalSessionLocks()

    def path_for(self, session_id: str) -> Path:
        return self.directory / f"{hashlib.sha256(session_id.encode()).hexdigest()}.lock"

    def forget(self, session_ids: list[str]) -> None:
        """Remove the lock files of conversations that are gone (pruned: long idle, so
        no turn waits on them)."""
        for session_id in session_ids:
            self.path_for(session_id).unlink(missing_ok=True)

    @asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout
        local = self.local.lock_for(session_id)  # held by this reference until released
        try:
            async with asyncio.timeout(self.timeout):
                await local.acquire()
        except TimeoutError:
            raise SessionBusy(session_id) from None
        try:
            # A new FileLock per turn: its own open file description, so its flock
            # excludes every other holder, in this process or another.
            lock = filelock.FileLock(self.path_for(session_id))
            delay = self.poll
            while True:
                try:
                    lock.acquire(timeout=0)  # one non-blocking attempt
                    break
                except filelock.Timeout:
                    if time.monotonic() >= deadline:
                        raise SessionBusy(session_id) from None
                    await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                    delay = min(delay * 2, 0.05)
            LOCK_WAIT.observe(time.perf_counter() - started)
            try:
                yield
            finally:
                lock.release()
        finally:
            local.release()
