"""What authentication costs: one request's credential check in process, and turns/s over
HTTP with it and without it (docs/security.md).

    PYTHONPATH=. python scripts/bench_auth.py [--checks 3000] [--turns 3000] [--clients 20]

1. In process, on the seeded demo database (SQLite, a private temporary VAR_DIR), each
   `--checks` times, p50/p95 in µs:
   - bearer: `Authenticator.authenticate_token` (HS256 verify + the revocation lookup, a
     database read), and its two parts alone; an outlet token and a logged-in user's
     (the user's also reads the user row: token version, disabled);
   - API key: `authenticate_api_key` (SHA-256 of the key + one indexed read);
   - the whole `caller` dependency as a route runs it (headers parsed, the check on a
     worker thread): bearer, API key, and the login cookie with its CSRF header;
   - bearer again with the revocation lookup cached (AUTH_REVOCATION_CACHE_SECONDS=5).
2. Over HTTP: uvicorn (its own process, one worker) on 127.0.0.1 serving the app with a canned turn (no model: the
   auth's share is not hidden behind the graph's tens of ms) and the real authenticator
   on the same database, `--clients` concurrent clients sending `--turns` POST
   /api/chatbot in all; then the same with the `caller` dependency overridden to a fixed
   identity (no credentials read or checked), and with the revocation lookup cached 5 s
   (AUTH_REVOCATION_CACHE_SECONDS=5). RATE_LIMIT_ENABLED=false for all. Two runs
   each, alternated.

Bounded: 127.0.0.1 only, a temporary directory deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from starlette.requests import Request  # noqa: E402

from tria_graph.adapters.database import make_engine, session_factory  # noqa: E402
from tria_graph.auth import Authenticator, Identity  # noqa: E402
from tria_graph.config import Settings, get_settings  # noqa: E402
from tria_graph.demo_data import DEMO_PASSWORD, embedded_settings, seed_database  # noqa: E402
from tria_graph.turn import TurnResult  # noqa: E402

SIGNING_KEYS = "bench-1:" + "b" * 48


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn, n: int) -> tuple[float, float]:
    for _ in range(min(200, n)):
        fn()
    took = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        took.append((time.perf_counter() - started) * 1e6)
    return pct(took, 50), pct(took, 95)


def timed_async(make, n: int) -> tuple[float, float]:
    async def run():
        for _ in range(min(200, n)):
            await make()
        took = []
        for _ in range(n):
            started = time.perf_counter()
            await make()
            took.append((time.perf_counter() - started) * 1e6)
        return pct(took, 50), pct(took, 95)

    return asyncio.run(run())


def request(headers: dict[str, str], method: str = "POST") -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "path": "/api/chatbot", "headers": raw,
                    "query_string": b"", "client": ("127.0.0.1", 1234)})


def in_process(settings: Settings, n: int) -> dict[str, tuple[float, float]]:
    from server.deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, caller

    engine = make_engine(settings.sqlalchemy_url)
    auth = Authenticator.from_settings(settings, session_factory(engine))
    outlet = auth.issue_for_outlet("OUT-001", timedelta(hours=1)).token
    user = auth.login("owner@out-001.example", DEMO_PASSWORD).token
    key = auth.create_api_key("bench")[0]
    claims = auth.signer.verify(outlet)
    csrf = "c" * 43
    cached = Authenticator(auth.signer, auth.store, auth.audit, revocation_cache_seconds=5)
    results = {
        "bearer (outlet token): verify + revocation lookup": timed(lambda: auth.authenticate_token(outlet), n),
        "bearer (outlet token), revocation cached 5 s": timed(lambda: cached.authenticate_token(outlet), n),
        "  of which the HS256 verify": timed(lambda: auth.signer.verify(outlet), n),
        "  of which the revocation lookup": timed(lambda: auth.store.is_revoked(claims.token_id), n),
        "bearer (a user's token): + the user row": timed(lambda: auth.authenticate_token(user), n),
        "API key: hash + lookup": timed(lambda: auth.authenticate_api_key(key), n),
        "dependency, bearer": timed_async(lambda: caller(request({"Authorization": f"Bearer {outlet}"}), auth), n),
        "dependency, bearer, revocation cached 5 s":
            timed_async(lambda: caller(request({"Authorization": f"Bearer {outlet}"}), cached), n),
        "dependency, API key": timed_async(lambda: caller(request({"X-API-Key": key}), auth), n),
        "dependency, cookie + CSRF": timed_async(lambda: caller(request({
            "Cookie": f"{SESSION_COOKIE}={user}; {CSRF_COOKIE}={csrf}", CSRF_HEADER: csrf}), auth), n),
    }
    engine.dispose()
    return results


class CannedService:
    """A canned turn, on the real database (the authenticator opens its sessions)."""

    def __init__(self, sessions) -> None:
        self.context = type("Context", (), {"database": type("Database", (), {"sessions": sessions})})()

    async def send(self, session_id, customer_id, message):
        return TurnResult(session_id=session_id, reply="Hello!", intent="greeting", confidence=1.0)


def serve(port: int, auth_on: bool) -> None:
    """The server of one HTTP run (its own process: client and server do not share a GIL)."""
    import server.main as server_app
    from server.deps import caller

    settings = get_settings()
    engine = make_engine(settings.sqlalchemy_url)

    @asynccontextmanager
    async def canned(_settings=None):
        yield CannedService(session_factory(engine))

    server_app.open_chat_service = canned
    app = server_app.create_app()
    if not auth_on:
        fixed = Identity("customer", "outlet:OUT-001", "customer", "OUT-001", token_id="bench")
        app.dependency_overrides[caller] = lambda: fixed
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_rate(settings: Settings, turns: int, clients: int, auth_on: bool,
              cache_seconds: float = 0) -> tuple[float, float]:
    """(turns/s, the server's CPU µs per turn)."""
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AUTH_REVOCATION_CACHE_SECONDS": str(cache_seconds)}
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--auth", "on" if auth_on else "off"],
                              env=env)
    engine = make_engine(settings.sqlalchemy_url)
    auth = Authenticator.from_settings(settings, session_factory(engine))
    tokens = [auth.issue_for_outlet(f"OUT-{i % 12 + 1:03d}", timedelta(hours=1)).token for i in range(clients)]
    engine.dispose()

    async def run() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                     limits=httpx.Limits(max_connections=clients)) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await client.get("/readiness")).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                await asyncio.sleep(0.1)

            async def worker(i: int, count: int) -> None:
                headers = {"Authorization": f"Bearer {tokens[i]}"}
                body = {"message": "hello", "session_id": f"bench-{i}"}
                for _ in range(count):
                    response = await client.post("/api/chatbot", json=body, headers=headers)
                    assert response.status_code == 200, response.text

            await asyncio.gather(*(worker(i, 20) for i in range(clients)))  # warm
            per_client = turns // clients
            started, cpu = time.perf_counter(), cpu_seconds(server.pid)
            await asyncio.gather(*(worker(i, per_client) for i in range(clients)))
            sent = per_client * clients
            return sent / (time.perf_counter() - started), (cpu_seconds(server.pid) - cpu) / sent * 1e6

    try:
        return asyncio.run(run())
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # one HTTP run's server
    parser.add_argument("--auth", default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.auth == "on")
        return
    with tempfile.TemporaryDirectory(prefix="tria-bench-auth-") as tmp:
        var = Path(tmp)
        settings = embedded_settings(var)
        env = {"VAR_DIR": str(var), "DATABASE_URL": settings.database_url, "CHECKPOINT_DB": settings.checkpoint_db,
               "REDIS_URL": "", "RATE_LIMIT_ENABLED": "false", "AUTH_SIGNING_KEYS": SIGNING_KEYS, "METRICS_TOKEN": ""}
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        seed_database(settings)
        print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        for name, (p50, p95) in in_process(settings, args.checks).items():
            print(f"check  {name:55s} p50 {p50:7.1f} µs  p95 {p95:7.1f} µs")
        variants = {"auth on": (True, 0), "auth on, cache 5 s": (True, 5), "auth overridden": (False, 0)}
        rates: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(2):
            for name, (auth_on, cache) in variants.items():
                rates[name].append(http_rate(settings, args.turns, args.clients, auth_on, cache))
        for label, values in rates.items():
            rate = statistics.mean(v[0] for v in values)
            cpu = statistics.mean(v[1] for v in values)
            print(f"http   {label:20s} {rate:.0f} turns/s ({', '.join(f'{v[0]:.0f}' for v in values)}), "
                  f"server CPU {cpu:.0f} µs/turn ({', '.join(f'{v[1]:.0f}' for v in values)}); {args.clients} clients")
        print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
