"""Time per turn outside the graph's nodes, against a bare LangGraph turn, and turns per
second over HTTP with 20 concurrent clients (issue 10). Prints one Markdown table per
backend, one row per source tree.

    /work/main/.venv/bin/python scripts/bench_overhead.py \
        --tree before=/work/wt/before --tree after=/work/wt/bench [--backend sqlite,postgres]

Each tree (default: the tree this script is in) runs as it is: every `tria` command and
the server get PYTHONPATH=<tree>, so the tree's own code seeds the data
(`tria db seed`, `tria kb build`) and answers. For each tree and backend:

1. One server (`python -m uvicorn <app> --workers 1`, <app> = `server.main:app` when
   <tree>/server/main.py exists, else `server.app:app`). After `--warmup` turns, `--turns`
   turns one request at a time, a mixed conversation (questions, lookups, an order and
   its "yes", a complaint; a new session every 14 turns). Before and after each turn the
   server's /metrics is scraped: node time of the turn = the increase of
   tria_node_duration_seconds_sum (every node), outside the nodes = client-side HTTP time
   minus that. Alternately with each HTTP turn, in this process, one turn of a bare
   3-node graph (2 messages a turn, durability="exit") on the same saver class in the
   same place (a SQLite file beside the server's, or the same Postgres database).
2. Throughput: `--clients` concurrent clients, each its own conversation of
   `--client-turns` turns, on the server of 1 (the same one) and then on a fresh server
   of 2 worker processes (`--workers 1,2`).

Backends: `sqlite` (embedded: SQLite files in a temporary VAR_DIR, in-process caches
and locks) and `postgres` (a temporary database `bench_<random>` on BENCH_POSTGRES_URL,
default postgresql://127.0.0.1:5432/postgres, dropped at the end, and Redis at
BENCH_REDIS_URL, default redis://127.0.0.1:6379/0, under a private REDIS_KEY_PREFIX,
deleted at the end). Everything listens on 127.0.0.1 only; servers are killed and
temporary directories and databases removed even when a step fails.

The embedding model (exported to ONNX on the first `tria kb build`, ~30-60 s) and the
trained intent classifier are kept in `--models-cache/models-<hash>` and shared by later
runs of trees whose model and classifier sources (MODEL_SOURCES) are the same
(VAR_DIR/models is a symlink to it). Figures are noisy on a
shared machine: the load average is printed at the start and end of every section, and
medians are the figures to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

HERE = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CUSTOMERS = [f"OUT-{n:03d}" for n in range(1, 13)]
READY_TIMEOUT = 240.0  # two cores shared with test suites: loading the model can be slow
# Every setting that chooses a backend or would point the server elsewhere: the bench
# sets them itself (empty = the embedded default), whatever the caller's environment says.
BACKEND_VARS = ("VAR_DIR", "DATABASE_URL", "CHECKPOINT_DB", "CHROMA_DIR", "CHROMA_HOST", "REDIS_URL",
                "REDIS_KEY_PREFIX", "OPENAI_API_KEY", "OPENAI_BASE_URL", "XERO_CLIENT_ID",
                "XERO_CLIENT_SECRET", "XERO_TOKEN_KEY", "WORKERS", "PYTHONPATH", "METRICS_TOKEN")

# The same mixed conversation as `make bench`: questions, lookups, an order with a change
# and its confirmation, an invoice, a complaint, small talk.
from bench_turns import SCRIPT  # noqa: E402  (scripts/ is on sys.path: the script's own folder)
REFERENCES = itertools.count(1000)


def vary(message: str) -> str:
    """The message with a suffix never used before in this run (the classifier ignores
    it), so no cached vector, intent, passage or reply answers it; the order, its change
    and "yes" are left as they are."""
    if message.startswith(("need ", "make it ")) or message == "yes":
        return message
    return f"{message} (ref {next(REFERENCES)})"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load()}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Trees ---------------------------------------------------------------------------


@dataclass
class Tree:
    name: str
    path: Path

    @property
    def app(self) -> str:
        return "server.main:app" if (self.path / "server" / "main.py").exists() else "server.app:app"

    commit: str = ""

    def __post_init__(self) -> None:
        self.commit = self.commit or self.read_commit()

    def read_commit(self) -> str:
        try:
            out = subprocess.run(["git", "-C", str(self.path), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, timeout=10)
            dirty = subprocess.run(["git", "-C", str(self.path), "status", "--porcelain", "--", "tria_graph", "server"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
        except (OSError, subprocess.SubprocessError):
            return "unknown"

    def env(self, **settings: str) -> dict[str, str]:
        """This process's environment with the tree first on the path and the backend
        settings given (every other backend setting emptied)."""
        env = {k: v for k, v in os.environ.items() if k not in BACKEND_VARS}
        env.update({k: "" for k in BACKEND_VARS if k != "PYTHONPATH"})
        # The bench measures turns, not refusals: no rate limits (docs/security.md measures them).
        env["RATE_LIMIT_ENABLED"] = "false"
        env.update(settings)
        env["PYTHONPATH"] = str(self.path)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def tria(self, args: list[str], cwd: Path, log_file: Path, **settings: str) -> None:
        """`tria <args>` from this tree's code (cwd: a directory with no .env)."""
        command = [sys.executable, "-c", "from tria_graph.cli import app; app()", *args]
        with open(log_file, "ab") as out:
            done = subprocess.run(command, cwd=cwd, env=self.env(**settings), stdout=out, stderr=subprocess.STDOUT,
                                  timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name}: tria {' '.join(args)} failed; see {log_file}:\n{tail(log_file)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def parse_tree(text: str) -> Tree:
    name, sep, path = text.partition("=")
    if not sep:
        name, path = Path(text).name, text
    tree = Path(path).resolve()
    if not (tree / "tria_graph" / "cli.py").exists():
        raise argparse.ArgumentTypeError(f"{tree} has no tria_graph/cli.py")
    return Tree(name, tree)


# --- Backends ------------------------------------------------------------------------


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))


def delete_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    finally:
        client.close()


class Workspace:
    """Temporary directories, databases and Redis prefixes of one run, removed by close()
    whatever happened."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tria-overhead-"))
        self.databases: list[str] = []
        self.prefixes: list[str] = []

    def database(self, template: str | None = None) -> str:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self.databases.append(name)
        admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def prefix(self) -> str:
        prefix = f"bench-overhead-{uuid.uuid4().hex[:12]}"
        self.prefixes.append(prefix)
        return prefix

    def close(self) -> None:
        for name in reversed(self.databases):
            try:
                admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - report and go on cleaning
                log(f"could not drop database {name}: {exc}")
        for prefix in self.prefixes:
            try:
                delete_keys(prefix)
            except Exception as exc:  # noqa: BLE001
                log(f"could not delete Redis keys {prefix}:*: {exc}")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Seeded:
    """A tree's seeded data: a VAR_DIR with the knowledge base and the SQLite database,
    and (postgres) a seeded template database."""

    var: Path
    template: str | None = None


# What the exported model and the trained classifier depend on: a cached models
# directory is reused while these files are unchanged.
MODEL_SOURCES = ("tria_graph/adapters/embeddings.py", "tria_graph/adapters/intent_classifier.py",
                 "tria_graph/domain/intents.py", "tria_graph/data/intents")


def models_dir(tree: Tree, cache: Path) -> Path:
    digest = hashlib.sha1()
    for source in MODEL_SOURCES:
        root = tree.path / source
        for file in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if file.is_file():
                digest.update(str(file.relative_to(tree.path)).encode() + b"\0" + file.read_bytes())
    path = cache / f"models-{digest.hexdigest()[:12]}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_tree(tree: Tree, work: Workspace, cache: Path, backends: list[str]) -> Seeded:
    """`tria kb build` and `tria db seed` (SQLite) in a fresh VAR_DIR whose models
    directory is the tree's shared one; with postgres, `tria db seed` into a template
    database too."""
    base = work.root / f"{tree.name}-seed"
    base.mkdir()
    (base / "models").symlink_to(models_dir(tree, cache))
    logs = work.root / f"{tree.name}-seed.log"
    started = time.perf_counter()
    tree.tria(["db", "seed"], base, logs, VAR_DIR=str(base))
    tree.tria(["kb", "build"], base, logs, VAR_DIR=str(base))
    template = None
    if "postgres" in backends:
        template = work.database()
        tree.tria(["db", "seed"], base, logs, VAR_DIR=str(base), DATABASE_URL=database_url(template))
        # The checkpoint tables too, as tests/conftest.py does: two workers starting on a
        # fresh database would both run the saver's migrations and one would fail.
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(database_url(template)) as saver:
            saver.setup()
    log(f"{tree.name}: seeded in {time.perf_counter() - started:.0f} s")
    return Seeded(base, template)


@dataclass
class Deployment:
    """Where one server runs: its VAR_DIR and backend settings."""

    backend: str
    var: Path
    settings: dict[str, str]
    checkpoint_target: str  # the bare graph's saver: a SQLite file or a Postgres URL


def deployment(backend: str, seeded: Seeded, work: Workspace, label: str) -> Deployment:
    var = work.root / label
    var.mkdir()
    (var / "chroma").symlink_to(seeded.var / "chroma")
    (var / "models").symlink_to((seeded.var / "models").resolve())
    if backend == "sqlite":
        shutil.copy(seeded.var / "tria.db", var / "tria.db")
        return Deployment(backend, var, {"VAR_DIR": str(var)}, str(var / "bare-checkpoints.db"))
    url = database_url(work.database(template=seeded.template))
    settings = {"VAR_DIR": str(var), "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": work.prefix()}
    return Deployment(backend, var, settings, url)


# --- The server ------------------------------------------------------------------------


def own_group_dying_with_us() -> None:
    """In the server's child before exec: its own process group (killed whole by stop()),
    and SIGTERM when this script dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    os.setsid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    def __init__(self, tree: Tree, where: Deployment, workers: int, log_file: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.workers = workers
        command = [sys.executable, "-m", "uvicorn", tree.app, "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        self.out = open(log_file, "ab")
        # Its own process group, so the workers go with it.
        self.process = subprocess.Popen(command, cwd=where.var, env=tree.env(**where.settings),
                                        stdout=self.out, stderr=subprocess.STDOUT,
                                        preexec_fn=own_group_dying_with_us)

    def wait_ready(self) -> None:
        deadline = time.time() + READY_TIMEOUT
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while time.time() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited ({self.process.returncode}):\n{tail(self.log_file)}")
                try:
                    if client.get("/readiness").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        raise RuntimeError(f"the server was not ready in {READY_TIMEOUT:.0f} s:\n{tail(self.log_file)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        self.out.close()


def node_seconds(text: str) -> float:
    """Every node's time so far, from a /metrics exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "tria_node_duration_seconds_sum")


# --- The bare graph ----------------------------------------------------------------------


def bare_graph(saver):
    """3 trivial nodes; the input message plus one reply: 2 messages per turn."""
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    def first(state: MessagesState) -> dict:
        return {}

    def second(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"ok: {state['messages'][-1].content}")]}

    def third(state: MessagesState) -> dict:
        return {}

    g = StateGraph(MessagesState)
    for node in (first, second, third):
        g.add_node(node.__name__, node)
    g.add_edge(START, "first")
    g.add_edge("first", "second")
    g.add_edge("second", "third")
    g.add_edge("third", END)
    return g.compile(checkpointer=saver)


class BareSaver:
    """The bare graph's saver as the server opens its own: AsyncSqliteSaver on a file,
    or AsyncPostgresSaver on a pool (autocommit, no prepared statements, dict rows)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.stack = None

    async def __aenter__(self):
        from contextlib import AsyncExitStack

        self.stack = AsyncExitStack()
        if self.target.startswith("postgres"):
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool

            pool = AsyncConnectionPool(self.target, min_size=1, max_size=4, open=False,
                                       kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            await pool.open()
            self.stack.push_async_callback(pool.close)
            saver = AsyncPostgresSaver(pool)
        else:
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            saver = await self.stack.enter_async_context(AsyncSqliteSaver.from_conn_string(self.target))
        await saver.setup()
        return bare_graph(saver)

    async def __aexit__(self, *exc) -> None:
        await self.stack.aclose()


# --- 1. One request at a time ------------------------------------------------------------


@dataclass
class Sequential:
    http_ms: list[float] = field(default_factory=list)
    node_ms: list[float] = field(default_factory=list)
    outside_ms: list[float] = field(default_factory=list)
    service_ms: list[float] = field(default_factory=list)  # the reply's latency_ms (ChatService)
    bare_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def sequential(server: Server, bare_target: str, turns: int, warmup: int, label: str) -> Sequential:
    out = Sequential()
    async with BareSaver(bare_target) as bare, httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        nodes = node_seconds((await http.get("/metrics")).text)
        for i in range(warmup + turns):
            conversation, step = divmod(i, len(SCRIPT))
            message = vary(SCRIPT[step])
            body = {"message": message, "session_id": f"{label}-seq-{conversation}",
                    "customer_id": CUSTOMERS[conversation % len(CUSTOMERS)]}
            started = time.perf_counter()
            response = await http.post("/api/chatbot", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            after = node_seconds((await http.get("/metrics")).text)
            in_nodes, nodes = (after - nodes) * 1000, after

            config = {"configurable": {"thread_id": f"{label}-bare-{conversation}"}}
            from langchain_core.messages import HumanMessage

            started = time.perf_counter()
            await bare.ainvoke({"messages": [HumanMessage(message)]}, config, durability="exit")
            plain = (time.perf_counter() - started) * 1000

            if response.status_code != 200:
                out.errors.append(f"{response.status_code} {response.text[:120]}")
                continue
            if i >= warmup:
                out.http_ms.append(elapsed)
                out.node_ms.append(in_nodes)
                out.outside_ms.append(elapsed - in_nodes)
                out.service_ms.append(float(response.json().get("latency_ms", 0.0)))
                out.bare_ms.append(plain)
    return out


# --- 2. Concurrent clients -------------------------------------------------------------


@dataclass
class Throughput:
    workers: int
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def tps(self) -> float:
        return (self.requests - len(self.errors)) / self.seconds if self.seconds else 0.0


async def client_conversation(http: httpx.AsyncClient, session: str, customer: str, turns: int,
                              result: Throughput) -> None:
    for t in range(turns):
        body = {"message": vary(SCRIPT[t % len(SCRIPT)]), "session_id": session, "customer_id": customer}
        started = time.perf_counter()
        try:
            response = await http.post("/api/chatbot", json=body)
            if response.status_code != 200:
                result.errors.append(f"{response.status_code} {response.text[:120]}")
        except httpx.HTTPError as exc:
            result.errors.append(repr(exc))
        result.latencies.append((time.perf_counter() - started) * 1000)
        result.requests += 1


async def concurrent(server: Server, clients: int, turns: int, label: str) -> Throughput:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.base, timeout=120, limits=limits) as http:
        # Warm-up: every worker must have loaded the bot (a worker still loading answers
        # 503 "starting"); rounds of `clients` concurrent turns until one has no error.
        deadline = time.time() + READY_TIMEOUT
        for round_ in itertools.count():
            warm = Throughput(server.workers)
            await asyncio.gather(*(
                client_conversation(http, f"{label}-warm-{round_}-{k}", CUSTOMERS[k % len(CUSTOMERS)], 2, warm)
                for k in range(clients)
            ))
            if not warm.errors:
                break
            if time.time() > deadline:
                raise RuntimeError(f"warm-up still failing: {sorted(set(warm.errors))[:3]}")
            await asyncio.sleep(1.0)
        result = Throughput(server.workers)
        started = time.perf_counter()
        await asyncio.gather(*(
            client_conversation(http, f"{label}-c{k}", CUSTOMERS[k % len(CUSTOMERS)], turns, result)
            for k in range(clients)
        ))
        result.seconds = time.perf_counter() - started
    return result


# --- Running it -------------------------------------------------------------------------


@dataclass
class Row:
    tree: Tree
    seq: Sequential | None = None
    loads: list[str] = field(default_factory=list)
    throughput: dict[int, Throughput] = field(default_factory=dict)
    profile: str = ""
    failure: str = ""


# Where a sampled stack's time goes: the first of these found walking from the innermost
# frame outwards names it (files are matched by these path fragments).
SPY_PACKAGES = [
    ("sqlite3", "SQLite (sqlite3, aiosqlite)"), ("aiosqlite", "SQLite (sqlite3, aiosqlite)"),
    ("psycopg", "Postgres driver (psycopg, pool)"), ("redis/", "Redis client"),
    ("sqlalchemy", "SQLAlchemy"), ("langgraph/checkpoint", "checkpoint (de)serialisation, saver"),
    ("ormsgpack", "checkpoint (de)serialisation, saver"), ("langgraph/", "LangGraph (Pregel loop)"),
    ("langchain_core", "langchain-core (messages, callbacks, runnables)"),
    ("pydantic", "pydantic"), ("json/", "json"), ("fastapi", "FastAPI (routing, validation, serialisation)"),
    ("starlette", "Starlette (middleware, responses)"), ("uvicorn/protocols", "uvicorn (HTTP protocol)"),
    ("uvicorn/middleware", "uvicorn (HTTP protocol)"), ("h11", "uvicorn (HTTP protocol)"),
    ("httptools", "uvicorn (HTTP protocol)"), ("uvicorn/", "asyncio event loop"), ("uvloop", "asyncio event loop"),
    ("prometheus_client", "prometheus-client"), ("tria_graph/", "tria_graph (outside the nodes)"),
    ("server/", "server (routes)"), ("asyncio/", "asyncio event loop"), ("concurrent/futures", "thread pool"),
    ("threading.py", "thread pool"), ("queue.py", "thread pool"), ("selectors.py", "asyncio event loop"),
]
SPY_GENERIC = {"asyncio event loop", "thread pool"}


def spy_summary(raw: Path, turns: int) -> str:
    """py-spy's raw stacks (non-idle samples of every thread) as a Markdown table of
    where the server's CPU time went, per turn."""
    try:
        lines = raw.read_text().splitlines()
    except OSError:
        return "(py-spy wrote nothing: is ptrace allowed?)\n"
    totals: dict[str, int] = {}
    samples = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        if any("generate_latest" in f or "metrics (server/" in f for f in frames):
            kind = "the bench's /metrics scrape (not part of a turn)"
        elif any("tria_graph/graph.py" in f and f.startswith("run ") for f in frames) or any(
                "tria_graph/nodes/" in f for f in frames):
            kind = "in the nodes (timed by tria_node_duration_seconds)"
        else:
            # The innermost frame of a named package; the event loop's and the thread
            # pool's own frames only when no other package is on the stack.
            kind = next((name for generic in (False, True) for f in reversed(frames)
                         for fragment, name in SPY_PACKAGES
                         if fragment in f and (name in SPY_GENERIC) == generic), None)
            kind = kind or ("other (" + frames[-1][:70] + ")" if frames else "other")
        totals[kind] = totals.get(kind, 0) + n
    if not samples:
        return "(py-spy recorded no samples)\n"
    rate = 250
    out = [f"py-spy, 1-worker server during the {turns} one-at-a-time turns: {samples} CPU samples at {rate}/s "
           "(idle threads not sampled; a thread waiting for the GIL counts as busy), every thread, each sample given to "
           "the innermost frame of a named package (the event loop or thread pool only when no other is on the "
           "stack)\n",
           "| where | CPU ms per turn | share |", "|---|---|---|"]
    for kind, n in sorted(totals.items(), key=lambda kv: -kv[1])[:25]:
        out.append(f"| {kind} | {n / rate * 1000 / turns:.2f} | {n / samples:.0%} |")
    return "\n".join(out) + "\n\n"


def run_backend(tree: Tree, seeded: Seeded, backend: str, work: Workspace, args) -> Row:
    row = Row(tree)
    for workers in args.workers if (args.turns or args.clients) else []:
        label = f"{tree.name}-{backend}-w{workers}"
        where = deployment(backend, seeded, work, label)
        server = Server(tree, where, workers, work.root / f"{label}.log")
        try:
            log(f"{label}: starting {tree.app} with {workers} worker(s)")
            server.wait_ready()
            if workers == args.workers[0] and args.turns:
                row.loads.append(f"sequential {load()}")
                log(f"{label}: {args.warmup} + {args.turns} turns one at a time")
                spy = None
                if args.py_spy:
                    raw = work.root / f"{label}.py-spy.txt"
                    spy = subprocess.Popen([args.py_spy, "record", "--pid", str(server.process.pid), "--rate", "250",
                                            "--threads", "--full-filenames", "--format", "raw", "--output", str(raw), "--nonblocking"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    row.seq = asyncio.run(sequential(server, where.checkpoint_target, args.turns, args.warmup, label))
                finally:
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        try:
                            spy.wait(timeout=60)
                        except subprocess.TimeoutExpired:
                            spy.kill()
                            spy.wait()
                if spy is not None:
                    row.profile += spy_summary(raw, args.turns + args.warmup)
                row.loads[-1] += f" → {load()}"
            if args.clients:
                row.loads.append(f"{workers}w {load()}")
                log(f"{label}: {args.clients} clients x {args.client_turns} turns")
                row.throughput[workers] = asyncio.run(concurrent(server, args.clients, args.client_turns, label))
                row.loads[-1] += f" → {load()}"
        except Exception as exc:  # noqa: BLE001 - one failed section does not lose the others
            row.failure += f"{label}: {exc}\n"
            log(f"{label} failed: {exc}")
        finally:
            server.stop()
    if args.profile:
        label = f"{tree.name}-{backend}-profile"
        where = deployment(backend, seeded, work, label)
        log(f"{label}: timing spans in process (scripts/profile_overhead.py)")
        command = [sys.executable, str(HERE / "scripts" / "profile_overhead.py"), "--turns", str(args.profile_turns),
                   "--warmup", str(args.warmup), "--cprofile", str(args.profile)]
        loads = load()
        done = subprocess.run(command, cwd=where.var, env=tree.env(**where.settings), capture_output=True,
                              text=True, timeout=1800)
        row.profile += f"load average {loads} → {load()}\n" + done.stdout
        if done.returncode != 0:
            row.failure += f"{label}: exit {done.returncode}\n{done.stderr[-3000:]}\n"
    return row


def ms(values: list[float], how=statistics.median) -> str:
    return f"{how(values):.1f}" if values else "–"


def print_table(backend: str, rows: list[Row], args) -> None:
    title = {"sqlite": "SQLite (embedded: AsyncSqliteSaver, in-process caches and locks)",
             "postgres": "Postgres (AsyncPostgresSaver) + Redis"}[backend]
    print(f"\n### {title}\n")
    print(f"{args.turns} turns one request at a time after {args.warmup} warm-up turns (median / mean ms; each HTTP "
          "turn is followed by one bare turn, and the pairs' ratios are less sensitive to the machine's load); "
          f"throughput: {args.clients} concurrent clients x {args.client_turns} turns, distinct conversations.\n")
    tp_heads = " | ".join(f"turns/s, {w} worker{'s' if w > 1 else ''}" for w in args.workers)
    print(f"| tree | HTTP p50 / mean | in nodes | outside nodes | bare 3-node turn | outside / bare: of medians (median of turn pairs) "
          f"| HTTP − ChatService latency_ms | {tp_heads} | errors |")
    print("|---" * (8 + len(args.workers)) + "|")
    for row in rows:
        s = row.seq or Sequential()
        both = lambda v: f"{ms(v)} / {ms(v, statistics.mean)}" if v else "–"  # noqa: E731
        ratio = (f"{statistics.median(s.outside_ms) / statistics.median(s.bare_ms):.2f}x "
                 f"({statistics.median(o / b for o, b in zip(s.outside_ms, s.bare_ms)):.2f}x)"
                 if s.outside_ms else "–")
        service = [h - l for h, l in zip(s.http_ms, s.service_ms)]
        tps = " | ".join(
            f"{row.throughput[w].tps:.1f} (p50 {percentile(row.throughput[w].latencies, 50):.0f} ms)"
            if w in row.throughput else "–" for w in args.workers
        )
        errors = len(s.errors) + sum(len(t.errors) for t in row.throughput.values())
        print(f"| {row.tree.name} ({row.tree.commit}) | {both(s.http_ms)} | {both(s.node_ms)} | {both(s.outside_ms)} "
              f"| {both(s.bare_ms)} | {ratio} | {both(service)} | {tps} | {errors} |")
    print()
    for row in rows:
        print(f"- {row.tree.name}: load average (1/5/15 min) at start → end of each section: "
              + "; ".join(row.loads))
        s = row.seq or Sequential()
        if s.http_ms:
            print(f"  p95: HTTP {percentile(s.http_ms, 95):.1f}, outside nodes {percentile(s.outside_ms, 95):.1f}, "
                  f"bare {percentile(s.bare_ms, 95):.1f} ms")
        for e in sorted(set(s.errors + [e for t in row.throughput.values() for e in t.errors]))[:5]:
            print(f"  error: {e}")
        if row.failure:
            print("  FAILED: " + row.failure.strip().replace("\n", "\n  "))
    for row in rows:
        if row.profile:
            print(f"\n#### Where {row.tree.name}'s time outside the nodes goes ({backend}, in process)\n")
            print(row.profile)
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=parse_tree, metavar="NAME=PATH",
                        help="a source tree to measure (repeatable); default: this script's tree")
    parser.add_argument("--backend", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--turns", type=int, default=200, help="measured turns, one request at a time")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up turns before them")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (0: no throughput)")
    parser.add_argument("--client-turns", type=int, default=15, help="turns of each concurrent client")
    parser.add_argument("--workers", default="1,2", help="server worker processes to measure, comma-separated")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also run scripts/profile_overhead.py per tree and backend (timing spans), "
                             "with cProfile's top N functions (N > 0)")
    parser.add_argument("--py-spy", default="", metavar="BINARY",
                        help="sample the 1-worker server with py-spy (this binary) during the one-at-a-time turns "
                             "and print where its CPU time goes outside the nodes")
    parser.add_argument("--profile-turns", type=int, default=200, help="measured turns of --profile")
    parser.add_argument("--models-cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tria-bench-models",
                        help="exported models and classifier kept per tree between runs")
    args = parser.parse_args()
    args.workers = sorted({int(w) for w in args.workers.split(",")})
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend {unknown}")
    trees = args.tree or [Tree(HERE.name, HERE)]

    # SIGTERM (a timeout, a CI runner) unwinds like Ctrl-C: servers stopped, databases dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    print(f"Run of {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
          f"load average at start {load()}. Trees: "
          + ", ".join(f"{t.name} = {t.path} ({t.commit}, {t.app})" for t in trees), flush=True)
    rows: dict[str, list[Row]] = {b: [] for b in backends}
    work = Workspace()
    interrupted = False
    try:
        for tree in trees:
            try:
                seeded = seed_tree(tree, work, args.models_cache, backends)
            except Exception as exc:  # noqa: BLE001
                for b in backends:
                    rows[b].append(Row(tree, failure=f"seeding failed: {exc}"))
                continue
            for backend in backends:
                rows[backend].append(run_backend(tree, seeded, backend, work, args))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        work.close()
    for backend in backends:
        print_table(backend, rows[backend], args)
    print(f"Run: {time.time() - started:.0f} s; load average at the end {load()}.")
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
