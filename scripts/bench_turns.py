"""Per-turn latency and server memory, printed as a Markdown table.

In process: 500 turns of mixed intents through ChatService on the embedded parts
(SQLite checkpoints), after the model is loaded. Over HTTP: the same mix against a
`tria serve` subprocess on 127.0.0.1, then that process's resident memory.

    VAR_DIR=var .venv/bin/python scripts/bench_turns.py [--turns 500] [--http-turns 200]

It works on a copy of VAR_DIR's database so the demo data is left as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

# A mixed conversation: questions, lookups, an order with its confirmation, a complaint.
SCRIPT = [
    "hi there",
    "what are your delivery days?",
    "how much does it cost to cancel 6 hours before delivery",
    "how much is a 12 inch pizza box",
    "where is my order",
    "need 200 12 inch pizza boxes and 300 16oz cold cups",
    "make it 300 12 inch pizza boxes",
    "yes",
    "can send me the invoice for my last order",
    "are bagasse boxes microwave safe",
    "what's the weather like today",
    "the boxes came damaged, very disappointed",
    "what are your payment terms",
    "thanks!",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def private_var(source: Path) -> Path:
    var = Path(tempfile.mkdtemp(prefix="tria-bench-"))
    shutil.copy(source / "tria.db", var / "tria.db")
    for name in ("chroma", "models"):
        (var / name).symlink_to((source / name).resolve())
    return var


async def in_process(var: Path, turns: int) -> dict[str, list[float]]:
    os.environ["VAR_DIR"] = str(var)
    from tria_graph.bootstrap import open_chat_service
    from tria_graph.config import get_settings

    get_settings.cache_clear()
    latencies: dict[str, list[float]] = {}
    async with open_chat_service() as service:
        await service.send("warmup", "OUT-001", "hello")
        for i, message in zip(range(turns), itertools.cycle(SCRIPT)):
            session = f"bench-{i // len(SCRIPT)}"
            # Real traffic is mostly unique messages: no vector is reused across turns.
            service.context.classifier.embeddings.clear_cache()
            started = time.perf_counter()
            result = await service.send(session, "OUT-001", message)
            latencies.setdefault(result.intent, []).append((time.perf_counter() - started) * 1000)
    return latencies


def over_http(var: Path, turns: int) -> tuple[list[float], float]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VAR_DIR": str(var), "RATE_LIMIT_ENABLED": "false"}  # a load test: no rate limits
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.main:app", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if client.get("/readiness").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            client.post("/api/chatbot", json={"message": "hello", "session_id": "warm", "customer_id": "OUT-001"})
            latencies = []
            for i, message in zip(range(turns), itertools.cycle(SCRIPT)):
                if message not in ("yes", "make it 300 12 inch pizza boxes"):
                    message = f"{message} ({i})"  # unique text, so no cached vector is reused
                body = {"message": message, "session_id": f"http-{i // len(SCRIPT)}", "customer_id": "OUT-001"}
                started = time.perf_counter()
                response = client.post("/api/chatbot", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
        rss_mb = psutil.Process(server.pid).memory_info().rss / 2**20
        return latencies, rss_mb
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--http-turns", type=int, default=200)
    args = parser.parse_args()
    source = Path(os.environ.get("VAR_DIR", "var"))
    if not (source / "tria.db").exists():
        sys.exit(f"{source}/tria.db not found: run `make seed kb` first")

    var = private_var(source)
    by_intent = asyncio.run(in_process(var, args.turns))
    every = [v for values in by_intent.values() for v in values]
    print(f"## In process: {len(every)} turns, mixed intents (ms per turn)\n")
    print("| intent | turns | p50 | p95 |\n|---|---|---|---|")
    for intent, values in sorted(by_intent.items()):
        print(f"| {intent} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 95):.1f} |")
    print(f"| **all** | {len(every)} | {statistics.median(every):.1f} | {percentile(every, 95):.1f} |\n")

    var = private_var(source)
    http, rss = over_http(var, args.http_turns)
    print(f"## Over HTTP: {len(http)} sequential requests (ms, client side)\n")
    print(f"p50 {statistics.median(http):.1f}, p95 {percentile(http, 95):.1f}, max {max(http):.1f}\n")
    print(f"Server resident memory after the run: {rss:.0f} MB")


if __name__ == "__main__":
    main()
