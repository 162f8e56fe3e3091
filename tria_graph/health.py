"""How healthy the bot's dependencies are: the answer behind `GET /health`.

Each store is probed (database, knowledge base, Redis when the cache lives there) and
timed; the circuit breakers report their state. The rules decide between healthy and
degraded; a bot that is not loaded yet (or failed to load) is `not_loaded`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .adapters.cache import RedisCache
from .context import Context

log = logging.getLogger("tria.health")

Status = Literal["healthy", "degraded", "unhealthy", "starting"]


@dataclass
class HealthReport:
    status: Status
    database: str  # connected | disconnected | not_loaded
    redis: str  # connected | disconnected | not_configured (the cache is in-process)
    chromadb: str  # connected | disconnected | not_loaded
    latency_ms: dict[str, float] = field(default_factory=dict)  # each probe's time
    circuit_breakers: dict[str, str] = field(default_factory=dict)


def not_loaded(failed: bool) -> HealthReport:
    """The report while the bot loads (`starting`), or after loading failed (`unhealthy`)."""
    return HealthReport(
        status="unhealthy" if failed else "starting",
        database="not_loaded",
        redis="not_configured",
        chromadb="not_loaded",
        circuit_breakers=_breakers(None),
    )


async def check_health(context: Context) -> HealthReport:
    """Probe every store (concurrently, each in a thread: the clients block) and decide."""
    probes: dict[str, Callable[[], object]] = {
        "database": context.database.ping,
        "chromadb": context.policy_kb.count,
    }
    if isinstance(context.cache, RedisCache):
        probes["redis"] = context.cache.ping
    results = await asyncio.gather(*(asyncio.to_thread(_probe, name, p) for name, p in probes.items()))
    states = {name: state for name, (state, _) in zip(probes, results)}
    latency = {name: ms for name, (_, ms) in zip(probes, results)}
    breakers = _breakers(context)
    healthy = (
        states["database"] == "connected"
        and states["chromadb"] == "connected"
        and states.get("redis") != "disconnected"
        and breakers["openai"] != "open"
    )
    return HealthReport(
        # Degraded still answers (uncached without Redis, offline without the model);
        # the dependency needs attention.
        status="healthy" if healthy else "degraded",
        database=states["database"],
        redis=states.get("redis", "not_configured"),
        chromadb=states["chromadb"],
        latency_ms=latency,
        circuit_breakers=breakers,
    )


def _breakers(context: Context | None) -> dict[str, str]:
    return {
        "xero": context.invoices.status() if context else "not_configured",
        "openai": context.llm.status() if context and context.llm is not None else "not_configured",
        # No breaker guards the database (its pools reconnect by themselves); the
        # runbook's shape names it, so it is always reported closed.
        "database": "closed",
    }


def _probe(name: str, check: Callable[[], object]) -> tuple[str, float]:
    """("connected" | "disconnected", milliseconds the check took)."""
    started = time.perf_counter()
    try:
        check()
        state = "connected"
    except Exception as exc:
        log.warning("health probe %s failed: %s", name, exc)
        state = "disconnected"
    return state, round((time.perf_counter() - started) * 1000, 2)
