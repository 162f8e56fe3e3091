"""Postgres and Redis backends: checkpointer overhead, HTTP under concurrency, one long
conversation, cache hit rates. Prints Markdown tables.

    .venv/bin/python scripts/bench_backends.py [--turns 240] [--clients 20] [--http-turns 20] [--long-turns 200]

1. Per-turn latency of the full graph (ChatService.send, Postgres checkpointer, Redis)
   against a bare 3-node graph on the same AsyncPostgresSaver, turn for turn.
2. HTTP: a `uvicorn server.main:app` subprocess on those backends, 20 concurrent
   conversations (and 1, for reference).
3. One conversation of 200 turns, on Postgres and on the embedded SQLite checkpointer:
   latency and checkpoint bytes written per turn, early against late.
4. Hits and misses of the Redis caches over ~30 seed conversations replayed twice.

It needs VAR_DIR (default `var`) with the knowledge base and models (`make seed kb`),
Postgres at BENCH_POSTGRES_URL (default postgresql://127.0.0.1:5432/postgres, used only to
create and drop a database) and Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379/0).
It creates its own database `bench_<random>` (migrated and seeded, dropped at the end), its
own Redis key prefix (deleted at the end) and a temporary SQLite copy for the embedded run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis
from langchain_core.messages import HumanMessage
from prometheus_client import REGISTRY

from tria_graph.adapters.database import make_engine, session_factory
from tria_graph.adapters.migrations import migrate
from tria_graph.bootstrap import open_chat_service
from tria_graph.config import Settings
from tria_graph.demo_data import seed

from bench_overhead import bare_graph  # noqa: E402  (one bare graph for every benchmark)

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CUSTOMERS = [f"OUT-{n:03d}" for n in range(1, 13)]

# Figures 1 and 2: one conversation, repeated on fresh sessions. Each message but the
# order and its "yes" gets a unique suffix (see `vary`) so no cache answers it.
CONVERSATION = [
    "hi there",
    "what are your delivery days?",
    "where is my order",
    "how much is a 12 inch pizza box",
    "need 100 12 inch pizza boxes",
    "yes",
    "how much does it cost to cancel 6 hours before delivery",
    "can send me the invoice for my last order",
    "what are your payment terms",
    "thanks!",
]
# Figure 3: a long conversation that never leaves an order waiting for "yes". Five
# messages, so turns 191-200 send the same ones as turns 1-10.
LONG_CYCLE = [
    "what are your delivery days?",
    "where is my order",
    "hi there",
    "how much is a 12 inch pizza box",
    "what are your payment terms",
]
# Figure 4: seed conversations as outlets send them, word for word, replayed twice.
REPLAY = [
    ("OUT-001", ["hi", "what are your delivery days?", "where is my order"]),
    ("OUT-002", ["hello", "what are your delivery days?", "how much is a 12 inch pizza box"]),
    ("OUT-003", ["what is the order cutoff time", "where is my order", "thanks!"]),
    ("OUT-004", ["hi", "what are your payment terms", "status of my last order"]),
    ("OUT-005", ["how much is a 12 inch pizza box", "what are your delivery days?", "thanks!"]),
    ("OUT-006", ["good morning", "what is the order cutoff time", "where is my order"]),
    ("OUT-007", ["do you deliver on sunday", "what cups do you have", "thanks!"]),
    ("OUT-008", ["hi", "are bagasse boxes microwave safe", "where is my order"]),
    ("OUT-009", ["what are your payment terms", "how much is a 12 inch pizza box", "thank you"]),
    ("OUT-010", ["hello", "where is my order", "what is your cancellation policy"]),
    ("OUT-011", ["what is your cancellation policy", "what are your delivery days?", "thanks!"]),
    ("OUT-012", ["hi", "what is the minimum order for pizza boxes", "what are your payment terms"]),
    ("OUT-001", ["how much is a 14 inch pizza box", "what is the order cutoff time", "thanks!"]),
    ("OUT-002", ["where is my order", "do you deliver on sunday", "thank you"]),
    ("OUT-003", ["what cups do you have", "how much are 16oz cold cups", "what are your delivery days?"]),
    ("OUT-004", ["hello", "are bagasse boxes microwave safe", "what are your payment terms"]),
    ("OUT-005", ["what is your cancellation policy", "status of my last order", "thanks!"]),
    ("OUT-006", ["hi", "how much is a 12 inch pizza box", "where is my order"]),
    ("OUT-007", ["good morning", "what are your delivery days?", "what is the order cutoff time"]),
    ("OUT-008", ["what are your payment terms", "what cups do you have", "thank you"]),
    ("OUT-009", ["hi", "where is my order", "do you deliver on sunday"]),
    ("OUT-010", ["how much are 16oz cold cups", "what is your cancellation policy", "thanks!"]),
    ("OUT-011", ["hello", "status of my last order", "how much is a 14 inch pizza box"]),
    ("OUT-012", ["what are your delivery days?", "what is the minimum order for pizza boxes", "thanks!"]),
    ("OUT-001", ["what is your return policy for damaged items", "where is my order", "thank you"]),
    ("OUT-003", ["hi", "what is your return policy for damaged items", "what are your payment terms"]),
    ("OUT-005", ["are bagasse boxes microwave safe", "what is the order cutoff time", "thanks!"]),
    ("OUT-007", ["hello", "how much does it cost to cancel 6 hours before delivery", "where is my order"]),
    ("OUT-009", ["how much does it cost to cancel 6 hours before delivery", "what cups do you have", "thanks!"]),
    ("OUT-010", ["good morning", "what are your delivery days?", "status of my last order"]),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


REFERENCES = itertools.count(1000)


def vary(message: str) -> str:
    """The message with a suffix never used before in this run (the classifier ignores it),
    so no cached intent, passage or reply answers it; orders and "yes" are left as they are."""
    return message if message.startswith("need ") or message == "yes" else f"{message} (ref {next(REFERENCES)})"


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (Linux /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the server)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def total(sample: str) -> float:
    """A metric sample summed over all its labels, e.g. every node's time."""
    return sum(s.value for metric in REGISTRY.collect() for s in metric.samples if s.name == sample)


def checkpoint_write_seconds() -> float:
    return total("tria_checkpoint_write_seconds_sum")


def node_seconds() -> float:
    return total("tria_node_duration_seconds_sum")


# --- The temporary Postgres database and Redis prefix ---------------------------------


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


def admin(sql: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


def seed_database(settings: Settings) -> None:
    """Migrate the settings' database and write the demo data (as tests/conftest.py does)."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            seed(session, settings)
    finally:
        engine.dispose()


def delete_keys(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def embedded_var(source: Path) -> Path:
    """A private VAR_DIR for the SQLite run: a copy of the database, shared KB and models."""
    var = Path(tempfile.mkdtemp(prefix="tria-bench-"))
    shutil.copy(source / "tria.db", var / "tria.db")
    for name in ("chroma", "models"):
        (var / name).symlink_to((source / name).resolve())
    return var


# --- 1. Full graph against a bare graph on the same saver ------------------------------


async def checkpoint_overhead(settings: Settings, turns: int, warmup: int = 20) -> None:
    """Turn for turn, alternately: ChatService.send and the bare graph, same saver and
    pool, durability="exit", a fresh thread every len(CONVERSATION) turns."""
    full_ms, bare_ms, full_write, bare_write, full_nodes = [], [], 0.0, 0.0, 0.0
    async with open_chat_service(settings) as service:
        bare = bare_graph(service.saver)
        for i in range(warmup + turns):
            conversation, step = divmod(i, len(CONVERSATION))
            message = vary(CONVERSATION[step])
            service.context.classifier.embeddings.clear_cache()

            written, in_nodes, started = checkpoint_write_seconds(), node_seconds(), time.perf_counter()
            await service.send(f"full-{conversation}", CUSTOMERS[conversation % 12], message)
            full, written_full = time.perf_counter() - started, checkpoint_write_seconds() - written
            in_nodes = node_seconds() - in_nodes

            written, started = checkpoint_write_seconds(), time.perf_counter()
            config = {"configurable": {"thread_id": f"bare-{conversation}"}}
            await bare.ainvoke({"messages": [HumanMessage(message)]}, config, durability="exit")
            plain, written_bare = time.perf_counter() - started, checkpoint_write_seconds() - written

            if i >= warmup:
                full_ms.append(full * 1000)
                bare_ms.append(plain * 1000)
                full_write += written_full
                bare_write += written_bare
                full_nodes += in_nodes
    report_overhead(full_ms, bare_ms, full_write, bare_write, full_nodes, turns)


def report_overhead(full_ms, bare_ms, full_write, bare_write, full_nodes, turns: int) -> None:
    print(f"## 1. Full graph vs bare 3-node graph, AsyncPostgresSaver ({turns} turns each, "
          f"{turns // len(CONVERSATION)} threads each, ms per turn)\n")
    print("| graph | median | p95 | mean | checkpoint write, mean ms (share of turn) |\n|---|---|---|---|---|")
    for name, values, write in (("full (ChatService.send)", full_ms, full_write), ("bare 3-node", bare_ms, bare_write)):
        mean = statistics.mean(values)
        per_turn = write * 1000 / len(values)
        print(f"| {name} | {statistics.median(values):.1f} | {percentile(values, 95):.1f} | {mean:.1f} "
              f"| {per_turn:.2f} ({per_turn / mean:.0%}) |")
    nodes = full_nodes * 1000 / len(full_ms)
    rest = statistics.mean(full_ms) - nodes
    print(f"\nRatio full/bare: median {statistics.median(full_ms) / statistics.median(bare_ms):.1f}x, "
          f"p95 {percentile(full_ms, 95) / percentile(bare_ms, 95):.1f}x (target <= 2x). "
          f"The graph's nodes took {nodes:.1f} ms of a full turn's mean (tria_node_duration_seconds); "
          f"the rest, {rest:.1f} ms, is {rest / statistics.mean(bare_ms):.1f}x the bare graph's mean.\n")


# --- 2. HTTP throughput ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def conversations_over_http(http, client: int, conversations: int, turns: int,
                                  latencies: list[float], errors: list[str]) -> None:
    """One client: `conversations` conversations of `turns` turns, one after the other,
    each on a new session, as one outlet."""
    for n in range(conversations):
        session = f"http-{uuid.uuid4().hex[:8]}-{client}-{n}"
        for t in range(turns):
            body = {"message": vary(CONVERSATION[t % len(CONVERSATION)]), "session_id": session,
                    "customer_id": CUSTOMERS[client % 12]}
            started = time.perf_counter()
            try:
                response = await http.post("/api/chatbot", json=body)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:120]}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            latencies.append((time.perf_counter() - started) * 1000)


async def http_load(base: str, clients: int, turns: int, conversations: int = 1) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(
            conversations_over_http(http, k, conversations, turns, latencies, errors) for k in range(clients)
        ))
        elapsed = time.perf_counter() - started
    return {"clients": f"{clients} x {conversations}", "requests": len(latencies), "rps": len(latencies) / elapsed,
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "errors": errors}


def http_throughput(settings: Settings, clients: int, turns: int) -> None:
    port = free_port()
    env = {**os.environ, "VAR_DIR": str(settings.var_dir), "DATABASE_URL": settings.database_url,
           "REDIS_URL": settings.redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix,
           "RATE_LIMIT_ENABLED": "false"}  # a load test: no rate limits
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.main:app", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.time() + 120
            while True:
                try:
                    if client.get("/readiness").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("the server did not become ready")
                time.sleep(0.5)
        asyncio.run(http_load(base, 2, len(CONVERSATION)))  # warm up
        # For reference, one client alone: 5 conversations in a row, for enough samples.
        runs = [asyncio.run(http_load(base, 1, turns, conversations=5)), asyncio.run(http_load(base, clients, turns))]
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"## 2. HTTP, uvicorn server.main:app (1 process), {turns}-turn conversations (ms, client side)\n")
    print("| clients (concurrent) x conversations each | requests | requests/s | p50 | p95 | p99 | errors |\n|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['clients']} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p95']:.1f} "
              f"| {r['p99']:.1f} | {len(r['errors'])} |")
        for e in sorted(set(r["errors"]))[:5]:
            print(f"\n    error: {e}")
    print()


# --- 3. One long conversation ----------------------------------------------------------

# Payload bytes of a thread's checkpoint rows, by row: what the saver serialized.
PG_ROWS = {
    "checkpoints": ("checkpoint_ns || '/' || checkpoint_id",
                    "octet_length(checkpoint::text) + octet_length(metadata::text)"),
    "checkpoint_blobs": ("checkpoint_ns || '/' || channel || '/' || version", "coalesce(octet_length(blob), 0)"),
    "checkpoint_writes": ("checkpoint_ns || '/' || checkpoint_id || '/' || task_id || '/' || idx",
                          "coalesce(octet_length(blob), 0)"),
}
SQLITE_ROWS = {
    "checkpoints": ("checkpoint_ns || '/' || checkpoint_id", "length(checkpoint) + length(metadata)"),
    "writes": ("checkpoint_ns || '/' || checkpoint_id || '/' || task_id || '/' || idx", "length(value)"),
}


def thread_rows(conn, tables: dict, placeholder: str, thread: str) -> dict[str, int]:
    """{table:row key: payload bytes} of one thread's checkpoint rows."""
    return {
        f"{table}:{key}": size
        for table, (key_sql, size_sql) in tables.items()
        for key, size in conn.execute(
            f"SELECT {key_sql}, {size_sql} FROM {table} WHERE thread_id = {placeholder}", (thread,)
        )
    }


async def long_conversation(settings: Settings, turns: int) -> dict:
    """`turns` turns in one session; per turn, its latency and the bytes of the checkpoint
    rows it added (rows present after the turn and not before it). Each of the last 10
    turns is followed by the same message on a fresh session, so the late turns can also
    be compared with new conversations at the same moment (the machine's load varies)."""
    if settings.uses_postgres:
        conn = psycopg.connect(settings.postgres_conninfo, autocommit=True)
        rows = functools.partial(thread_rows, conn, PG_ROWS, "%s")
    else:
        conn = sqlite3.connect(settings.resolved_checkpoint_db)
        rows = functools.partial(thread_rows, conn, SQLITE_ROWS, "?")
    latency, fresh, written, peak = [], [], [], 0
    async with open_chat_service(settings) as service:

        async def turn(session: str, i: int) -> float:
            service.context.classifier.embeddings.clear_cache()
            started = time.perf_counter()
            await service.send(session, "OUT-001", vary(LONG_CYCLE[i % len(LONG_CYCLE)]))
            return (time.perf_counter() - started) * 1000

        for i in range(5):
            await turn("long-warmup", i)
        for i in range(turns):
            before = rows("long")
            latency.append(await turn("long", i))
            after = rows("long")
            written.append(sum(size for key, size in after.items() if key not in before))
            peak = max(peak, sum(after.values()))
            if i >= turns - 10:
                fresh.append(await turn("long-fresh", i))
    conn.close()
    return {"latency": latency, "fresh": fresh, "written": written, "stored": sum(after.values()),
            "rows": len(after), "peak": peak}


def print_long(results: dict[str, dict], turns: int) -> None:
    late = f"{turns - 9}-{turns}"
    print(f"## 3. One conversation of {turns} turns (ms per turn, mean / median)\n")
    print(f"| checkpointer | turns 1-10 | turns {late} | ratio of medians (target <= 1.3x) "
          f"| fresh session, interleaved with turns {late} | ratio of medians to it |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        early, end, fresh = r["latency"][:10], r["latency"][-10:], r["fresh"]
        print(f"| {name} | {statistics.mean(early):.1f} / {statistics.median(early):.1f} "
              f"| {statistics.mean(end):.1f} / {statistics.median(end):.1f} "
              f"| {statistics.median(end) / statistics.median(early):.2f}x "
              f"| {statistics.mean(fresh):.1f} / {statistics.median(fresh):.1f} "
              f"| {statistics.median(end) / statistics.median(fresh):.2f}x |")
    print(f"\nCheckpoint payload bytes of that conversation (rows a turn added; see PG_ROWS, SQLITE_ROWS):\n")
    print(f"| checkpointer | written by turn 10 | written by turn {turns} | stored at the end "
          "| most stored at once |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['written'][9]:,} | {r['written'][-1]:,} | {r['stored']:,} ({r['rows']} rows) "
              f"| {r['peak']:,} |")
    print()


# --- 4. Cache hit rates ----------------------------------------------------------------


async def cache_replay(settings: Settings) -> None:
    """Every REPLAY conversation on a new session, twice; cache counters per pass."""
    for cache in ("intent", "policy", "response"):
        delete_keys(f"{settings.redis_key_prefix}:{cache}")  # start cold
    passes = []
    async with open_chat_service(settings) as service:
        for n in (1, 2):
            before = {(kind, c): counter(f"tria_cache_{kind}_total", cache=c)
                      for kind in ("hits", "misses") for c in ("intent", "policy", "response")}
            for k, (customer, messages) in enumerate(REPLAY):
                for message in messages:
                    await service.send(f"replay-{n}-{k}", customer, message)
            passes.append({key: counter(f"tria_cache_{key[0]}_total", cache=key[1]) - value
                           for key, value in before.items()})
    turns = sum(len(m) for _, m in REPLAY)
    print(f"## 4. Redis caches, {len(REPLAY)} seed conversations ({turns} turns) replayed twice\n")
    print("| cache | pass 1 hits / misses (hit rate) | pass 2 hits / misses (hit rate) |\n|---|---|---|")
    for c in ("intent", "policy", "response"):
        cells = []
        for p in passes:
            hits, misses = p[("hits", c)], p[("misses", c)]
            cells.append(f"{hits:.0f} / {misses:.0f} ({hits / max(1, hits + misses):.0%})")
        print(f"| {c} | {cells[0]} | {cells[1]} |")
    print()


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=240, help="figure 1: turns per graph")
    parser.add_argument("--clients", type=int, default=20, help="figure 2: concurrent conversations")
    parser.add_argument("--http-turns", type=int, default=20, help="figure 2: turns per conversation")
    parser.add_argument("--long-turns", type=int, default=200, help="figure 3: turns in the long conversation")
    args = parser.parse_args()
    var = Path(os.environ.get("VAR_DIR", "var")).resolve()
    if not (var / "chroma" / ".built").exists() or not (var / "tria.db").exists():
        sys.exit(f"{var} has no knowledge base or database: run `make seed kb` first")

    embedded = Settings(VAR_DIR=str(embedded_var(var)), DATABASE_URL="", REDIS_URL="", CHECKPOINT_DB="")
    name, prefix = f"bench_{uuid.uuid4().hex[:12]}", f"bench-{uuid.uuid4().hex[:12]}"
    pg = Settings(VAR_DIR=str(var), DATABASE_URL=database_url(name), REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=prefix)
    busy, ours, started = machine_cpu_seconds(), own_cpu_seconds(), time.time()
    try:
        admin(f'CREATE DATABASE "{name}"')
        seed_database(pg)
        asyncio.run(checkpoint_overhead(pg, args.turns))
        http_throughput(pg, args.clients, args.http_turns)
        print_long({
            "Postgres (AsyncPostgresSaver) + Redis": asyncio.run(long_conversation(pg, args.long_turns)),
            "embedded (AsyncSqliteSaver)": asyncio.run(long_conversation(embedded, args.long_turns)),
        }, args.long_turns)
        asyncio.run(cache_replay(pg))
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        delete_keys(prefix)
        shutil.rmtree(embedded.var_dir, ignore_errors=True)
    wall = time.time() - started
    others = (machine_cpu_seconds() - busy) - (own_cpu_seconds() - ours)
    print(f"Run: {wall:.0f} s on {os.cpu_count()} cores. This script and its server used "
          f"{(own_cpu_seconds() - ours) / wall:.2f} cores on average; everything else on the machine "
          f"(Postgres and Redis included) {others / wall:.2f} cores.")


if __name__ == "__main__":
    main()
