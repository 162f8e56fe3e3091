"""Invoices in Xero, exactly once: the real xero-python SDK against tests/fake_xero.py."""

from __future__ import annotations

import threading
from datetime import date

import httpx
import pytest

from tests.support import backends
from tests.support.fake_xero import TENANT_ID, Fault, FakeXeroServer, parse_date
from tests.support.xero_parts import Shop, drain, xero_settings
from tria_graph.adapters.database import XeroTokenRow
from tria_graph.adapters.xero.limits import LocalRateLimiter
from tria_graph.adapters.xero.tokens import TokenStore


@pytest.fixture
def fake():
    with FakeXeroServer() as server:
        yield server


@pytest.fixture
def shop(var_dir, fake):
    s = Shop(xero_settings(var_dir, fake))
    yield s
    s.close()


def test_the_order_and_its_outbox_entry_commit_together(var_dir):
    """Without Xero settings the invoice stays local, marked not sent, its entry pending."""
    from tests.conftest import make_settings

    shop = Shop(make_settings(var_dir))
    order = shop.order()
    [(status, kind, key)] = shop.rows(
        "SELECT o.status, o.kind, o.idempotency_key FROM xero_outbox o JOIN orders r ON r.id = o.order_id "
        "WHERE r.number = :n", n=order["number"])
    assert (status, kind, key) == ("pending", "create_invoice", f"tria-invoice-{order['number']}")
    [(delivery,)] = shop.rows("SELECT i.delivery_status FROM invoices i JOIN orders r ON r.id = i.order_id WHERE r.number = :n", n=order["number"])
    assert delivery == "not_sent"
    shop.close()


def test_invoices_wait_until_xero_is_configured_then_go_out(var_dir, fake):
    from tests.conftest import make_settings

    local = Shop(make_settings(var_dir))
    numbers = [local.order()["number"] for _ in range(3)]
    local.close()
    shop = Shop(xero_settings(var_dir, fake))
    drain(shop.worker())
    assert sorted(fake.state.references()) == sorted(numbers)
    shop.close()


def test_the_invoice_in_xero_has_the_contact_lines_reference_and_net_30(shop, fake):
    first, second = shop.order("OUT-001", lines=3), shop.order("OUT-001", lines=1)
    drain(shop.worker())
    by_ref = {i["Reference"]: i for i in fake.state.ledger.values()}
    invoice = by_ref[first["number"]]
    assert invoice["Type"] == "ACCREC" and invoice["LineAmountTypes"] == "Exclusive"
    assert invoice["Status"] == "AUTHORISED"
    assert parse_date(invoice["DueDate"]) - parse_date(invoice["Date"]) == date(2026, 12, 23) - date(2026, 11, 23)
    assert [(l["ItemCode"], l["Description"], l["Quantity"], l["AccountCode"], l["TaxType"]) for l in invoice["LineItems"]] == [
        (l["sku"], l["name"], l["quantity"], "200", "OUTPUT2") for l in first["lines"]
    ]
    assert [l["UnitAmount"] for l in invoice["LineItems"]] == [float(l["unit_price"]) for l in first["lines"]]
    # One contact for the outlet, found by its number for the second order.
    assert len(fake.state.contacts) == 1
    assert invoice["Contact"]["ContactNumber"] == "OUT-001"
    assert by_ref[second["number"]]["Contact"]["ContactID"] == invoice["Contact"]["ContactID"]
    # The local invoice keeps Xero's InvoiceID and InvoiceNumber.
    rows = shop.rows("SELECT i.external_id, i.external_number, i.number, i.delivery_status FROM invoices i "
                     "JOIN orders o ON o.id = i.order_id WHERE o.number = :n", n=first["number"])
    assert rows == [(invoice["InvoiceID"], invoice["InvoiceNumber"], invoice["InvoiceNumber"], "sent")]


def test_a_worker_dying_after_xero_answered_makes_no_second_invoice(shop, fake):
    order = shop.order()

    class Killed(BaseException):
        pass

    def die(_entry):
        raise Killed

    first = shop.worker(owner="w1", after_send=die)
    with pytest.raises(Killed):
        first.process(first.outbox.claim_due("w1", 1.0, 10)[0])
    assert len(fake.state.ledger) == 1  # Xero made it; Tria did not record it
    [(status, external)] = shop.rows("SELECT o.status, i.external_id FROM xero_outbox o JOIN invoices i ON i.id = o.invoice_id")
    assert (status, external) == ("pending", None)
    drain(shop.worker(owner="w2"))  # takes over once the lease ran out
    assert fake.state.references() == [order["number"]]
    [(external,)] = shop.rows("SELECT external_id FROM invoices WHERE external_id IS NOT NULL")
    assert external == next(iter(fake.state.ledger))


def test_a_timeout_after_xero_made_the_invoice_is_retried_with_the_same_key(shop, fake):
    order = shop.order()
    faults = iter([Fault(delay=1.5)])  # longer than XERO_TIMEOUT=1.0; Xero still makes it
    fake.state.faults = lambda method, path: next(faults, None) if method == "PUT" and path.endswith("/Invoices") else None
    drain(shop.worker())
    assert fake.state.references() == [order["number"]]
    [(attempts, error)] = shop.rows("SELECT attempts, last_error FROM xero_outbox")
    assert attempts == 2 and error is None


def test_429_waits_for_retry_after_and_5xx_is_retried_with_backoff(shop, fake):
    order = shop.order()
    faults = iter([Fault(status=429, retry_after=1), Fault(status=500), Fault(status=503, retry_after=0)])
    fake.state.faults = lambda method, path: next(faults, None) if path.endswith("/Invoices") else None
    drain(shop.worker())
    assert fake.state.references() == [order["number"]]
    statuses = [c[3] for c in fake.state.calls if c[2].endswith("/Invoices")]
    assert statuses == [429, 200] or statuses[:1] == [429]
    assert statuses.count(200) == 1


def test_a_validation_error_is_recorded_and_escalated_not_retried(var_dir, fake):
    shop = Shop(xero_settings(var_dir, fake, XERO_SALES_ACCOUNT_CODE="999"))
    order = shop.order()
    drain(shop.worker())
    assert fake.state.ledger == {}
    puts = [c for c in fake.state.calls if c[1] == "PUT" and c[2].endswith("/Invoices")]
    assert [c[3] for c in puts] == [400]  # once: not retried
    [(status, error)] = shop.rows("SELECT delivery_status, delivery_error FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.number = :n", n=order["number"])
    assert status == "rejected" and "Account code '999' is not a valid code" in error
    [(kind, level, message)] = shop.rows("SELECT kind, level, message FROM escalations WHERE kind = 'xero_rejected'")
    assert level == "L2" and "Account code '999'" in message
    [(outbox,)] = shop.rows("SELECT status FROM xero_outbox")
    assert outbox == "failed"
    shop.close()


def test_an_expired_token_is_refreshed_and_the_rotated_token_stored_encrypted(shop, fake):
    shop.order()
    drain(shop.worker())
    first = TokenStore(shop.sessions, shop.settings.xero_token_key).load()
    fake.state.expire_access_tokens()  # Xero answers 401 though our clock says valid
    shop.order()
    drain(shop.worker())
    assert len(fake.state.ledger) == 2
    stored = TokenStore(shop.sessions, shop.settings.xero_token_key).load()
    assert stored["refresh_token"] != first["refresh_token"]
    assert stored["refresh_token"] in fake.state.refresh_tokens  # the live one
    with shop.sessions() as s:
        raw = s.get(XeroTokenRow, "default").token
    assert stored["refresh_token"] not in raw and stored["access_token"] not in raw


@pytest.mark.parametrize("backend_name", ["sqlite", backends.POSTGRES_ONLY])
def test_one_refresh_at_a_time(backend_name, var_dir, fake, request):
    """Eight threads, each with its own store (on Postgres: its own lock scope, so the
    row lock is what serialises them), ask for a token at once: one refresh."""
    overrides = {}
    if backend_name == "postgres":
        overrides["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    shop = Shop(xero_settings(var_dir, fake, **overrides))
    worker = shop.worker()
    stores = [TokenStore(shop.sessions, shop.settings.xero_token_key, shop.settings.xero_refresh_token, refresher=worker.client._refresh)
              for _ in range(8)]
    if backend_name == "sqlite":
        stores = [worker.client.tokens] * 8  # one process on SQLite: its lock
    barrier = threading.Barrier(8)
    tokens = []

    def get(store):
        barrier.wait()
        tokens.append(store.current()["access_token"])

    threads = [threading.Thread(target=get, args=(s,)) for s in stores]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert fake.state.token_requests.count("refresh_token") == 1
    assert len(set(tokens)) == 1
    shop.close()


def test_the_circuit_breaker_opens_after_five_failures(shop, fake):
    for _ in range(6):
        shop.order()
    fake.state.faults = lambda method, path: Fault(status=500)
    worker = shop.worker()
    assert worker.client.circuit.current_state == "closed"
    worker.run_once()
    assert worker.client.circuit.current_state == "open"
    errors = [r[0] for r in shop.rows("SELECT last_error FROM xero_outbox")]
    assert sum("circuit breaker open" in e for e in errors) >= 1
    assert fake.state.ledger == {}


def test_health_shows_the_xero_breaker(chat_on_xero):
    from fastapi.testclient import TestClient

    from server.deps import BotHolder
    from server.main import app

    chat, fake, _settings = chat_on_xero
    assert chat.service.context.invoices.status() == "closed"
    chat.service.context.invoices.worker.client.circuit.open()
    # The /health route with this service loaded (no lifespan: it would load another).
    holder = BotHolder()
    holder.service = chat.service
    app.state.bot = holder
    body = TestClient(app).get("/health").json()
    assert body["circuit_breakers"]["xero"] == "open"


def test_the_rate_limiter_keeps_xero_under_five_at_once(shop, fake):
    fake.state.latency = 0.05
    for _ in range(25):
        shop.order(customer_id=f"OUT-00{1 + _ % 5}")
    drain(shop.worker())
    assert len(fake.state.ledger) == 25
    assert fake.state.max_concurrent_seen <= 5 and fake.state.rate_limited == 0


def test_the_limiter_counts_calls_per_minute():
    limiter = LocalRateLimiter(per_minute=3, concurrent=5)
    for _ in range(3):
        with limiter.slot("t"):
            pass
    entered = threading.Event()

    def fourth():
        with limiter.slot("t"):
            entered.set()

    threading.Thread(target=fourth, daemon=True).start()
    assert not entered.wait(0.5)  # the minute's three calls are used up
    other = threading.Event()
    with limiter.slot("another-tenant"):
        other.set()
    assert other.is_set()


def test_x_minlimit_remaining_zero_pauses_the_tenant():
    limiter = LocalRateLimiter(per_minute=60, concurrent=5)
    with limiter.slot("t"):
        pass
    limiter.observe("t", {"X-MinLimit-Remaining": "0"})
    entered = threading.Event()
    threading.Thread(target=lambda: limiter.slot("t").__enter__() and None or entered.set(), daemon=True).start()
    assert not entered.wait(0.5)


def test_cancelling_voids_the_invoice_in_xero(shop, fake):
    order = shop.order()
    drain(shop.worker())
    shop.repo.cancel_order("OUT-001", order["number"])
    drain(shop.worker())
    [invoice] = fake.state.ledger.values()
    assert invoice["Status"] == "VOIDED"
    assert shop.rows("SELECT delivery_status FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.number = :n", n=order["number"]) == [("voided",)]
    assert {r[0] for r in shop.rows("SELECT status FROM xero_outbox")} == {"done"}


def test_cancelling_before_it_went_out_means_it_never_goes(shop, fake):
    order = shop.order()
    shop.repo.cancel_order("OUT-001", order["number"])
    drain(shop.worker())
    assert fake.state.ledger == {}
    assert shop.rows("SELECT delivery_status FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.number = :n", n=order["number"]) == [("cancelled",)]
    assert sorted(r[0] for r in shop.rows("SELECT status FROM xero_outbox")) == ["cancelled", "done"]


def test_a_void_that_fails_part_way_stays_pending_and_says_why(shop, fake):
    order = shop.order()
    drain(shop.worker())
    shop.repo.cancel_order("OUT-001", order["number"])
    fake.state.faults = lambda method, path: Fault(status=500) if method == "POST" else None
    worker = shop.worker()
    worker.run_once()
    [(status, error)] = shop.rows("SELECT status, last_error FROM xero_outbox WHERE kind = 'void_invoice'")
    assert status == "pending" and "500" in error
    assert shop.rows("SELECT delivery_status FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.number = :n", n=order["number"]) == [("void_pending",)]
    fake.state.faults = None
    drain(worker)
    assert next(iter(fake.state.ledger.values()))["Status"] == "VOIDED"


def test_two_workers_on_postgres_never_send_twice(var_dir, fake, postgres_url):
    shop = Shop(xero_settings(var_dir, fake, DATABASE_URL=postgres_url))
    numbers = [shop.order(customer_id=f"OUT-00{1 + i % 3}")["number"] for i in range(30)]
    a, b = shop.worker(owner="a"), shop.worker(owner="b")
    threads = [threading.Thread(target=drain, args=(w,)) for w in (a, b)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(fake.state.references()) == sorted(numbers)
    assert len(fake.state.contacts) == 3
    shop.close()


def test_xero_connect_stores_tokens_and_tenant(var_dir, fake, monkeypatch):
    """The authorization-code flow against the fake: a 'browser' follows the URL."""
    from tests.support.servers import free_port
    from tria_graph import cli
    from tria_graph.config import get_settings

    settings = xero_settings(var_dir, fake, XERO_TENANT_ID="", XERO_REFRESH_TOKEN="",
                             XERO_REDIRECT_URI=f"http://localhost:{free_port()}/callback")
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    printed = []

    def browser(message="", **_kw):
        printed.append(str(message))
        if str(message).startswith(fake.url):
            # Approve in the 'browser': Xero redirects to the callback with the code.
            threading.Thread(target=lambda: httpx.get(str(message), follow_redirects=True, timeout=10), daemon=True).start()

    monkeypatch.setattr(cli.typer, "echo", browser)
    cli.xero_connect(timeout=20)
    assert "Connected to Xero organisation Tria Demo" in printed[-1]
    shop = Shop(settings)
    store = TokenStore(shop.sessions, settings.xero_token_key)
    assert store.tenant_id() == TENANT_ID
    assert store.load()["refresh_token"] in fake.state.refresh_tokens
    # And invoices go out with what was stored.
    shop.order()
    drain(shop.worker())
    assert len(fake.state.ledger) == 1
    shop.close()
    get_settings.cache_clear()


# --- in the chat ------------------------------------------------------------------
@pytest.fixture
def reply_wait() -> str:
    # Generous, so a loaded machine does not turn "answers in time" into "late"; the
    # slow test makes Xero slower than whatever the wait is.
    return "20"


@pytest.fixture
def chat_on_xero(var_dir, embeddings, clock, reply_wait):
    from tests.conftest import Chat

    with FakeXeroServer() as fake:
        settings = xero_settings(var_dir, fake, XERO_REPLY_WAIT=reply_wait)
        chat = Chat(settings, embeddings, clock)
        try:
            yield chat, fake, settings
        finally:
            chat.close()


def place(chat) -> object:
    chat.send("hi, need 200 12 inch pizza boxes and 300 16oz cold cups for thursday")
    return chat.send("yes")


def test_the_reply_gives_xeros_invoice_number_when_xero_answers_in_time(chat_on_xero):
    chat, fake, _ = chat_on_xero
    placed = place(chat)
    assert placed.order is not None, placed.reply
    [invoice] = fake.state.ledger.values()
    assert placed.invoice["number"] == invoice["InvoiceNumber"]
    assert invoice["InvoiceNumber"] in placed.reply and invoice["Reference"] == placed.order["number"]


@pytest.mark.parametrize("reply_wait", ["1.0"])
def test_a_slow_xero_gets_on_its_way_and_the_invoice_later(chat_on_xero):
    chat, fake, settings = chat_on_xero
    fake.state.latency = settings.xero_reply_wait + 0.5  # every call answers after the wait
    placed = place(chat)
    assert placed.invoice is None and "on its way" in placed.reply
    number = placed.order["number"]
    fake.state.latency = 0
    drain(chat.service.context.invoices.worker)
    again = chat.send(f"send me the invoice for order {number}")
    [invoice] = fake.state.ledger.values()
    assert again.invoice["number"] == invoice["InvoiceNumber"] and invoice["InvoiceNumber"] in again.reply
