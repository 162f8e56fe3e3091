"""Helpers of the Xero tests: settings pointing at the fake, orders written directly."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from cryptography.fernet import Fernet
from tenacity import wait_fixed

from tests.conftest import MONDAY_10AM, make_settings
from tria_graph.adapters.database import make_engine, session_factory
from tria_graph.adapters.orders import OrderStore
from tria_graph.bootstrap import build_xero_worker
from tria_graph.domain.money import to_money

# Fast enough for tests: short leases and polls; backoff replaced by a fixed small wait.
FAST = {"XERO_POLL_INTERVAL": "0.05", "XERO_LEASE_SECONDS": "1.0", "XERO_TIMEOUT": "1.0"}


def xero_settings(var_dir, fake, **overrides):
    return make_settings(var_dir, **{**fake.settings(Fernet.generate_key().decode()), **FAST, **overrides})


class Shop:
    """The settings' database: place orders and read rows back."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.sqlalchemy_url)
        self.sessions = session_factory(self.engine)
        self.repo = OrderStore(self.sessions, settings.tax_rate, settings.payment_terms_days)
        self.products = self.repo.products()

    def order(self, customer_id: str = "OUT-001", lines: int = 2, when: datetime = MONDAY_10AM) -> dict:
        chosen = [self.products[(hash(uuid.uuid4()) % len(self.products))] for _ in range(lines)]
        chosen = list({p.sku: p for p in chosen}.values())
        rows = [
            {"sku": p.sku, "name": p.name, "unit": p.unit, "quantity": max(p.min_order_qty, 50),
             "unit_price": p.price, "line_total": to_money(p.price * max(p.min_order_qty, 50))}
            for p in chosen
        ]
        subtotal = sum((r["line_total"] for r in rows), Decimal("0"))
        gst = to_money(subtotal * Decimal("0.09"))
        draft = {"draft_id": uuid.uuid4().hex, "delivery_date": (when + timedelta(days=1)).date(),
                 "subtotal": subtotal, "gst": gst, "total": subtotal + gst, "lines": rows}
        return self.repo.place_order(customer_id, draft, when)

    def worker(self, **kwargs):
        worker = build_xero_worker(self.settings, self.sessions, owner=kwargs.pop("owner", None))
        worker.backoff = kwargs.pop("backoff", wait_fixed(0.05))
        for k, v in kwargs.items():
            setattr(worker, k, v)
        return worker

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return list(conn.exec_driver_sql(sql, params) if not params else conn.execute(__import__("sqlalchemy").text(sql), params))

    def close(self) -> None:
        self.engine.dispose()


def drain(*workers, rounds: int = 400) -> None:
    """Run the workers until no outbox entry is pending (leases may need to run out)."""
    import time

    for _ in range(rounds):
        for w in workers:
            w.run_once()
        if workers[0].outbox.pending_count() == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{workers[0].outbox.pending_count()} outbox entries still pending")
