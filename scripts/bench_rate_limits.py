"""What the rate limits cost: one check in process and through Redis, and requests/s over
HTTP with the limits off, in memory and in Redis (docs/security.md).

    PYTHONPATH=. python scripts/bench_rate_limits.py [--checks 5000] [--requests 1500]

1. The check (`RateLimits.check_customer`) timed alone, `--checks` times over 200
   outlets, with a limit no one reaches: p50/p95 in µs, MemoryStorage and RedisStorage.
2. The HTTP overhead: uvicorn on 127.0.0.1 serving the app with a canned service (no
   model, so the limits' share is not hidden behind the graph's ~tens of ms), one client
   sending `--requests` POST /api/chatbot in turn; each request passes the address and
   the outlet limit (two checks).

Bounded: 127.0.0.1 only, the Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/0)
under a private key prefix deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import redis
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tria_graph.adapters.rate_limits import CUSTOMER, RateLimits  # noqa: E402
from tria_graph.turn import TurnResult  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = f"tria-bench-{uuid.uuid4().hex[:8]}"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def time_checks(limits: RateLimits, n: int) -> tuple[float, float]:
    for i in range(200):  # warm: connections, scripts loaded
        await limits.check_customer(f"OUT-{i:03d}")
    took = []
    for i in range(n):
        started = time.perf_counter()
        await limits.check_customer(f"OUT-{i % 200:03d}")
        took.append((time.perf_counter() - started) * 1e6)
    return pct(took, 50), pct(took, 95)


class CannedService:
    async def send(self, session_id, customer_id, message):
        return TurnResult(session_id=session_id, reply="Hello!", intent="greeting", confidence=1.0)


@asynccontextmanager
async def canned(settings=None):
    yield CannedService()


def http_rate(env: dict[str, str], requests: int) -> float:
    import server.main as server_app
    from tria_graph.config import get_settings

    os.environ.update(env)
    get_settings.cache_clear()
    server_app.open_chat_service = canned
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(server_app.create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while True:
                try:
                    if client.get("/readiness").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            body = {"message": "hello", "session_id": "b-1", "customer_id": "OUT-001"}
            for _ in range(100):
                client.post("/api/chatbot", json=body)
            started = time.perf_counter()
            for i in range(requests):
                body["customer_id"] = f"OUT-{i % 12 + 1:03d}"
                assert client.post("/api/chatbot", json=body).status_code == 200
            return requests / (time.perf_counter() - started)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=1500)
    args = parser.parse_args()
    rule = {CUSTOMER: "1000000/minute"}
    try:
        memory = asyncio.run(time_checks(RateLimits(rule), args.checks))

        async def on_redis():
            limits = RateLimits(rule, redis_url=REDIS_URL, prefix=PREFIX)
            try:
                return await time_checks(limits, args.checks)
            finally:
                await limits.aclose()

        on_redis_ = asyncio.run(on_redis())
        print(f"check  memory p50 {memory[0]:.1f} µs  p95 {memory[1]:.1f} µs")
        print(f"check  redis  p50 {on_redis_[0]:.1f} µs  p95 {on_redis_[1]:.1f} µs")
        base = {"VAR_DIR": "/tmp", "RATE_LIMIT_CUSTOMER": "1000000/minute", "RATE_LIMIT_ADDRESS": "1000000/minute",
                "REDIS_KEY_PREFIX": PREFIX, "METRICS_TOKEN": ""}
        runs = {
            "off": {**base, "RATE_LIMIT_ENABLED": "false", "REDIS_URL": ""},
            "memory": {**base, "RATE_LIMIT_ENABLED": "true", "REDIS_URL": ""},
            "redis": {**base, "RATE_LIMIT_ENABLED": "true", "REDIS_URL": REDIS_URL},
        }
        for name, env in runs.items():
            rates = [http_rate(env, args.requests) for _ in range(2)]
            print(f"http   {name:6s} {statistics.mean(rates):.0f} requests/s ({', '.join(f'{r:.0f}' for r in rates)})")
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
