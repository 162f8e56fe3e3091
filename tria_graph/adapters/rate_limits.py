"""Rate limits: how many requests an outlet, a client address or a login email may make.

`RateLimits` wraps the `limits` library with its moving-window strategy (no burst at a
window's edge; the wait until the oldest counted request leaves the window is exact,
which is what `Retry-After` says). One rule per limit, from settings:

    customer  RATE_LIMIT_CUSTOMER  per outlet (customer_id; later the token's outlet)
    address   RATE_LIMIT_ADDRESS   per client address
    login     RATE_LIMIT_LOGIN     per login email (against password guessing)

Each (limit, key) pair is its own counter, so one outlet's burst never slows another.
With REDIS_URL the counters live in Redis under `{REDIS_KEY_PREFIX}:ratelimit:` and
every replica counts against the same window (limits' async RedisStorage on redis-py);
without it, in this process (limits' MemoryStorage).

Redis failing never refuses a request: the check is skipped (fail open), logged once
per outage and counted in `tria_rate_limit_errors_total`, and Redis is left alone for
`retry_after` seconds, as the caches and session locks do. RATE_LIMIT_ENABLED=false
turns every check into a no-op (load tests, benchmarks).

    limits = RateLimits.from_settings(settings)
    await limits.check_login("buyer@outlet.sg")   # raises RateLimited(limit, retry_after)
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping

from ..config import Settings
from ..extras import require
from ..metrics import RATE_LIMIT_ERRORS, RATE_LIMITED

log = logging.getLogger(__name__)

CUSTOMER = "customer"
ADDRESS = "address"
LOGIN = "login"
LIMITS = (CUSTOMER, ADDRESS, LOGIN)


class RateLimited(Exception):
    """A limit is used up: `retry_after` whole seconds until the window frees a request."""

    def __init__(self, limit: str, retry_after: int) -> None:
        super().__init__(limit, retry_after)
        self.limit = limit
        self.retry_after = retry_after


def rules(settings: Settings) -> dict[str, str]:
    return {
        CUSTOMER: settings.rate_limit_customer,
        ADDRESS: settings.rate_limit_address,
        LOGIN: settings.rate_limit_login,
    }


def login_key(email: str) -> str:
    """The counter key of a login email: normalised (case, spaces), then hashed, so
    neither Redis nor the logs hold the address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class RateLimits:
    """The three limits over one storage: in process, or Redis when `redis_url` is set."""

    def __init__(
        self,
        rules: Mapping[str, str],
        *,
        redis_url: str = "",
        prefix: str = "tria",
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        timeout: float = 0.25,
        retry_after: float = 5.0,
    ) -> None:
        limits = require("limits", "server")
        self.enabled = enabled
        self.items = {name: limits.parse(rule) for name, rule in rules.items()}
        self.clock = clock  # the storage's clock (limits uses time.time); tests fix it
        self.retry_after = retry_after
        self._down_until = 0.0
        self.backend = "redis" if redis_url else "memory"
        if redis_url:
            require("redis", "redis")
            from limits.aio.storage import RedisStorage
            from limits.aio.strategies import MovingWindowRateLimiter
            from limits.errors import StorageError
            from redis import RedisError

            self.storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                key_prefix=f"{prefix}:ratelimit",
                wrap_exceptions=True,
                # Short, as for the caches: a slow or absent Redis costs a request
                # milliseconds, not seconds.
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            self._errors: tuple[type[BaseException], ...] = (StorageError, RedisError, OSError, TimeoutError)
            self._async = MovingWindowRateLimiter(self.storage)
            self._sync = None
        else:
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter as SyncMovingWindow

            self.storage = MemoryStorage()
            self._errors = (OSError,)
            self._sync = SyncMovingWindow(self.storage)
            self._async = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs) -> RateLimits:
        return cls(
            rules(settings),
            redis_url=settings.redis_url,
            prefix=settings.redis_key_prefix,
            enabled=settings.rate_limit_enabled,
            **kwargs,
        )

    # --- the checks routes (and the auth branch's login) call -------------------------

    async def check_customer(self, outlet_id: str) -> None:
        """Count one request of this outlet; RateLimited when RATE_LIMIT_CUSTOMER is used up."""
        await self.hit(CUSTOMER, outlet_id)

    async def check_address(self, address: str) -> None:
        """Count one request from this client address (RATE_LIMIT_ADDRESS)."""
        await self.hit(ADDRESS, address)

    async def check_login(self, email: str) -> None:
        """Count one login attempt for this email, whatever its outcome (RATE_LIMIT_LOGIN):
        call it before checking the password, so guesses past the limit are not tried."""
        await self.hit(LOGIN, login_key(email))

    async def hit(self, limit: str, key: str) -> None:
        """Count one request against `limit` for `key`, or raise RateLimited."""
        item = self.items.get(limit)
        if not self.enabled or item is None:
            return
        if self.clock() < self._down_until:
            RATE_LIMIT_ERRORS.labels(limit).inc()
            return
        try:
            if await self._hit(item, limit, key):
                return
            reset = await self._reset_at(item, limit, key)
        except self._errors as exc:
            self._failed(limit, exc)
            return
        retry_after = max(1, math.ceil(reset - self.clock()))
        RATE_LIMITED.labels(limit).inc()
        shown = key[:8] if limit == LOGIN else key  # the hash of an email: a prefix is enough
        log.warning("rate limited: %s %s (%s), retry in %d s", limit, shown, item, retry_after)
        raise RateLimited(limit, retry_after)

    async def _hit(self, item, limit: str, key: str) -> bool:
        if self._sync is not None:
            return self._sync.hit(item, limit, key)
        return await self._async.hit(item, limit, key)

    async def _reset_at(self, item, limit: str, key: str) -> float:
        """When (storage clock) the oldest request in the window leaves it."""
        if self._sync is not None:
            return self._sync.get_window_stats(item, limit, key).reset_time
        return (await self._async.get_window_stats(item, limit, key)).reset_time

    def _failed(self, limit: str, exc: BaseException) -> None:
        RATE_LIMIT_ERRORS.labels(limit).inc()
        if self.clock() >= self._down_until:
            log.warning("rate limits unavailable, allowing requests unchecked for %.0f s: %s", self.retry_after, exc)
        self._down_until = self.clock() + self.retry_after

    async def reset(self) -> None:
        """Forget every count (tests, and an operator clearing a lock-out)."""
        if self._sync is not None:
            self.storage.reset()
        else:
            await self.storage.reset()

    async def aclose(self) -> None:
        if self._async is not None:
            try:
                await self.storage.bridge.storage.aclose()  # the redis-py client under limits' bridge
            except Exception:  # closing is best effort
                pass
