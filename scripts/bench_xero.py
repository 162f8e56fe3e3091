"""Xero figures for docs/xero.md, against the fake Xero (tests/support/fake_xero.py) run with
Xero's documented limits (60 calls a minute, 5 at once per tenant) and a latency per
call (default 0.3 s).

1. Throughput: N orders waiting in the outbox, one worker sending them; invoices per
   minute it sustains, and how many 429s Xero had to give (0 = within the limits).
2. "yes" to invoice number: orders placed through the chat (ChatService, in process)
   with Xero healthy; the "yes" turn's time, p50 and p95.
3. The soak test's counts (tests/system/test_xero_soak.py's run_soak).

    VAR_DIR=var .venv/bin/python scripts/bench_xero.py [--orders 150] [--turns 30] [--latency 0.3]

Needs `make seed kb` (for the chat part); works on a copy of VAR_DIR's database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.fake_xero import FakeXero, FakeXeroServer  # noqa: E402
from tests.support.xero_parts import Shop, xero_settings  # noqa: E402
from tria_graph.adapters.database import make_engine  # noqa: E402
from tria_graph.adapters.migrations import migrate  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def private_var(source: Path) -> Path:
    var = Path(tempfile.mkdtemp(prefix="tria-bench-xero-"))
    shutil.copy(source / "tria.db", var / "tria.db")
    for name in ("chroma", "models"):
        if (source / name).exists():
            (var / name).symlink_to((source / name).resolve())
    engine = make_engine(f"sqlite:///{var / 'tria.db'}")
    migrate(engine)
    engine.dispose()
    return var


def throughput(source: Path, orders: int, latency: float) -> dict:
    var = private_var(source)
    with FakeXeroServer(FakeXero(latency=latency)) as fake:
        shop = Shop(xero_settings(var, fake, XERO_LEASE_SECONDS="120"))
        for i in range(orders):
            shop.order(customer_id=f"OUT-00{1 + i % 5}")
        worker = shop.worker()
        started = time.perf_counter()
        progress = []
        while worker.outbox.pending_count():
            worker.run_once(limit=10)
            progress.append((time.perf_counter() - started, len(fake.state.ledger)))
        elapsed = time.perf_counter() - started
        # After the first minute (whose 60-call allowance starts unused) is the sustained rate.
        after = [(t, n) for t, n in progress if t >= 60]
        sustained = None
        if len(after) > 1 and after[-1][0] > after[0][0]:
            sustained = (after[-1][1] - after[0][1]) / ((after[-1][0] - after[0][0]) / 60)
        worker.close()
        shop.close()
        calls = [c for c in fake.state.calls]
        return {
            "orders": orders,
            "invoices": len(fake.state.ledger),
            "seconds": round(elapsed, 1),
            "invoices_per_minute_overall": round(len(fake.state.ledger) / (elapsed / 60), 1),
            "invoices_per_minute_after_first_minute": round(sustained, 1) if sustained else None,
            "http_calls": len(calls),
            "max_calls_in_any_60s": max(sum(1 for c in calls if t <= c[0] < t + 60) for t, *_ in calls),
            "max_concurrent": fake.state.max_concurrent_seen,
            "429s": fake.state.rate_limited,
            "latency_per_call_s": latency,
        }


def yes_to_number(source: Path, turns: int, latency: float) -> dict:
    from tria_graph.bootstrap import open_chat_service

    var = private_var(source)
    times: list[float] = []
    with_number = 0

    async def run(settings) -> None:
        nonlocal with_number
        async with open_chat_service(settings) as service:
            for i in range(turns):
                session, customer = f"bench-{i}", f"OUT-00{1 + i % 5}"
                await service.send(session, customer, "need 200 12 inch pizza boxes and 300 16oz cold cups")
                started = time.perf_counter()
                result = await service.send(session, customer, "yes")
                times.append((time.perf_counter() - started) * 1000)
                with_number += bool(result.invoice and result.invoice.get("xero_invoice_id"))

    with FakeXeroServer(FakeXero(latency=latency)) as fake:
        settings = xero_settings(var, fake, XERO_POLL_INTERVAL="2.0", XERO_LEASE_SECONDS="60", XERO_TIMEOUT="10")
        asyncio.run(run(settings))
    return {
        "turns": turns,
        "replies_with_xero_number": with_number,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "latency_per_call_s": latency,
    }


def soak(source: Path) -> dict:
    from tests.system.test_xero_soak import run_soak

    var = private_var(source)
    started = time.perf_counter()
    result = run_soak(lambda fake: xero_settings(var, fake, XERO_CALLS_PER_MINUTE="100000"))
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=150)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "chat", "soak"])
    args = parser.parse_args()
    source = Path(os.environ.get("VAR_DIR", "var"))
    figures = {}
    if "chat" not in args.skip:
        figures["yes_to_invoice_number"] = yes_to_number(source, args.turns, args.latency)
        print(json.dumps(figures["yes_to_invoice_number"]), flush=True)
    if "soak" not in args.skip:
        figures["soak"] = soak(source)
        print(json.dumps(figures["soak"]), flush=True)
    if "throughput" not in args.skip:
        figures["throughput"] = throughput(source, args.orders, args.latency)
        print(json.dumps(figures["throughput"]), flush=True)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
