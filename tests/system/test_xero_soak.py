"""Soak: 200 orders through a random fault schedule, two workers, no duplicates, none missing.

Faults on each accounting call (seeded): 429 with Retry-After, 500 before the request
took effect, 500 after it did (Xero made the invoice; the worker never heard), a
timeout after it did, and the worker killed between Xero's answer and recording it.
The workers are driven directly (not through the chat) to keep this under a minute.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter

import pytest

from tests.support.fake_xero import Fault, FakeXero, FakeXeroServer
from tests.support.xero_parts import Shop, drain, xero_settings
from tria_graph.adapters.xero.client import breaker

pytestmark = pytest.mark.slow

ORDERS = 200


class Killed(BaseException):
    """The worker process dying: nothing after it runs (BaseException: never caught)."""


def fault_schedule(seed: int, counts: Counter):
    rng = random.Random(seed)
    lock = threading.Lock()

    def fault(method: str, path: str):
        with lock:
            roll = rng.random()
        if roll < 0.05:
            counts["429"] += 1
            return Fault(status=429, retry_after=1)
        if roll < 0.12:
            counts["500 before"] += 1
            return Fault(status=500)
        if method == "PUT" and roll < 0.16:
            counts["500 after"] += 1
            return Fault(status=500, after=True)
        if method == "PUT" and roll < 0.19:
            counts["timeout after"] += 1
            return Fault(delay=1.3)
        return None

    return fault


def killer(seed: int, counts: Counter):
    rng = random.Random(seed)
    lock = threading.Lock()

    def after_send(_entry):
        with lock:
            roll = rng.random()
        if roll < 0.05:
            counts["killed after send"] += 1
            raise Killed

    return after_send


def run_soak(settings_for, orders: int = ORDERS, seed: int = 7) -> dict:
    counts: Counter = Counter()
    # The per-minute limit is lifted here (200 invoices at 60 a minute take over three
    # minutes; scripts/bench_xero.py measures that); 5 at once and the faults remain.
    with FakeXeroServer(FakeXero(per_minute=100_000)) as fake:
        shop = Shop(settings_for(fake))
        try:
            numbers = [shop.order(customer_id=f"OUT-00{1 + i % 5}", lines=1 + i % 3)["number"] for i in range(orders)]
            fake.state.faults = fault_schedule(seed, counts)
            kills = killer(seed, counts)

            def new_worker(name: str):
                w = shop.worker(owner=name, after_send=kills)
                w.client.circuit = breaker(5, 1)  # the soak's faults may open it; reopen quickly
                return w

            def supervise(i: int) -> None:
                """One worker process: when it is killed, a new one starts (new owner)."""
                for generation in range(1000):
                    worker = new_worker(f"w{i}-{generation}")
                    try:
                        drain(worker, rounds=2000)
                        return
                    except Killed:
                        continue

            threads = [threading.Thread(target=supervise, args=(i,)) for i in range(2)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            workers = [new_worker("final")]
            ledger = Counter(fake.state.references())
            recorded = {r[0]: r[1] for r in shop.rows(
                "SELECT o.number, i.external_id FROM orders o JOIN invoices i ON i.order_id = o.id WHERE i.delivery_status = 'sent'")}
            by_ref = {i["Reference"]: i["InvoiceID"] for i in fake.state.ledger.values()}
            return {
                "orders": orders,
                "invoices_in_xero": sum(ledger.values()),
                "duplicates": sum(n - 1 for n in ledger.values() if n > 1),
                "missing": sum(1 for n in numbers if n not in ledger),
                "recorded_locally": sum(1 for n in numbers if recorded.get(n) == by_ref.get(n)),
                "http_calls": len(fake.state.calls),
                "faults": dict(counts),
                "outbox_pending": workers[0].outbox.pending_count(),
            }
        finally:
            shop.close()


def test_soak_no_duplicate_and_no_missing_invoice(var_dir):
    result = run_soak(lambda fake: xero_settings(var_dir, fake, XERO_CALLS_PER_MINUTE="100000"))
    print(json.dumps(result, indent=2))
    assert result["duplicates"] == 0 and result["missing"] == 0
    assert result["invoices_in_xero"] == ORDERS
    assert result["recorded_locally"] == ORDERS  # and every local invoice holds Xero's id
    assert result["outbox_pending"] == 0
    faults = result["faults"]
    assert all(faults.get(k, 0) > 0 for k in ("429", "500 before", "500 after", "timeout after", "killed after send"))
