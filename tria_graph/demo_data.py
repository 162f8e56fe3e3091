"""Deterministic demo data: the catalog, 12 outlets and ~300 past orders.

Orders are generated from a fixed random seed relative to the day of seeding, so a
demo always has recent history (delivered orders, one out for delivery today, some
upcoming) and the same data for the same day.

The tests and the evaluation suite seed it for one fixed business day (`DEMO_NOW`),
run on a `Clock` set to that day, and build their VAR_DIR with `build_demo_var`.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .adapters.database import (
    AuditRow,
    ChatMessageRow,
    ChatSessionRow,
    EscalationRow,
    InvoiceRow,
    OrderLineRow,
    OrderRow,
    OutletRow,
    ProductRow,
    UserRow,
)
from .domain.orders import order_number
from .config import DATA_DIR, Settings
from .domain.catalog import Product
from .domain.delivery import weekday_index
from .domain.invoicing import due_date, invoice_number
from .domain.orders import totals
from .domain.money import to_money

SEED = 20261122
SGT = ZoneInfo("Asia/Singapore")
# Monday 23 Nov 2026, 10:00 in Singapore: before the 2:00 PM cutoff. The tests and the
# evaluation seed the demo data for this day, so order numbers and history never move.
DEMO_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SGT)
ORDER_COUNT = 300
# The demo accounts' password (README): owner@out-001.example ... one per outlet,
# ops@tria.example (staff) and admin@tria.example (admin). Demo data only.
DEMO_PASSWORD = "tria-demo-2026"
DEMO_STAFF = (("ops@tria.example", "staff"), ("admin@tria.example", "admin"))
HISTORY_DAYS = 180

# What each kind of outlet buys, by category.
_BASKETS = {
    "pizza": ["pizza_box", "bag", "napkin", "cutlery"],
    "cafe": ["cup", "lid", "bag", "napkin"],
    "tea": ["cup", "lid", "bag"],
    "meals": ["meal_box", "cutlery", "bag", "napkin"],
}


def read_catalog() -> list[dict]:
    with open(DATA_DIR / "catalog.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_outlets() -> list[dict]:
    with open(DATA_DIR / "outlets.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def catalog_products() -> list[Product]:
    """The catalogue CSV as domain products (for the knowledge base build)."""
    return [
        Product(sku=r["sku"], name=r["name"], category=r["category"], size=r["size"], unit=r["unit"],
                price=Decimal(r["price"]), stock=int(r["stock"]), min_order_qty=int(r["min_order_qty"]),
                aliases=tuple(a for a in r["aliases"].split(";") if a))
        for r in read_catalog()
    ]


def is_seeded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(ProductRow)) or 0) > 0


def seed(session: Session, settings: Settings, today: date | None = None, reset: bool = False) -> dict:
    """Write the demo data; with reset, every demo table is emptied first."""
    zone = ZoneInfo(settings.timezone)
    today = today or datetime.now(zone).date()
    if reset:
        for table in (AuditRow, UserRow, ChatMessageRow, ChatSessionRow, EscalationRow, InvoiceRow, OrderLineRow,
                      OrderRow, OutletRow, ProductRow):
            session.execute(delete(table))
    elif is_seeded(session):
        # A database seeded before accounts existed gets its demo users now.
        users = _users(session, zone)
        session.commit()
        return {"seeded": False, "users": users}

    products = [
        ProductRow(
            sku=r["sku"], name=r["name"], category=r["category"], size=r["size"], unit=r["unit"],
            price=Decimal(r["price"]), stock=int(r["stock"]), min_order_qty=int(r["min_order_qty"]),
            aliases=r["aliases"],
        )
        for r in read_catalog()
    ]
    outlets = [
        OutletRow(
            customer_id=r["customer_id"], name=r["name"], contact_name=r["contact_name"],
            phone=r["phone"], email=r["email"], address=r["address"],
            usual_order_value=Decimal(r["usual_order_value"]), usual_order_days=r["usual_order_days"],
        )
        for r in read_outlets()
    ]
    session.add_all(products + outlets)
    session.flush()

    orders = _orders(random.Random(SEED), products, outlets, today, settings, zone)
    orders.sort(key=lambda o: o.created_at)
    for order in orders:
        session.add(order)
        session.flush()
        order.number = order_number(order.id)
    invoices = 0
    for order in orders:
        if order.status == "delivered" and order.delivery_date <= today - timedelta(days=3):
            amounts = totals([line.line_total for line in order.lines], settings.tax_rate)
            row = InvoiceRow(
                order_id=order.id, customer_id=order.customer_id, issued_on=order.delivery_date,
                due_on=due_date(order.delivery_date, settings.payment_terms_days),
                created_at=datetime.combine(order.delivery_date, time(18, 0), zone), **amounts,
            )
            session.add(row)
            session.flush()
            row.number = invoice_number(order.delivery_date.year, row.id)
            invoices += 1
    users = _users(session, zone)
    session.commit()
    return {"seeded": True, "products": len(products), "outlets": len(outlets), "orders": len(orders),
            "invoices": invoices, "users": users}


def demo_email(customer_id: str) -> str:
    return f"owner@{customer_id.lower()}.example"


def _users(session: Session, zone) -> int:
    """One user per outlet and two staff, all with DEMO_PASSWORD, if there are no users yet."""
    from .auth.passwords import hash_password

    if session.scalar(select(func.count()).select_from(UserRow)):
        return 0
    # One hash for all: argon2 is slow on purpose, and these share a published password.
    hashed = hash_password(DEMO_PASSWORD)
    now = datetime.now(zone)
    outlets = session.scalars(select(OutletRow.customer_id).order_by(OutletRow.customer_id)).all()
    accounts = [(demo_email(o), "customer", o) for o in outlets] + [(e, role, None) for e, role in DEMO_STAFF]
    session.add_all(
        UserRow(email=email, role=role, outlet_id=outlet, password_hash=hashed, token_version=0, disabled=False,
                created_at=now)
        for email, role, outlet in accounts
    )
    session.flush()
    return len(accounts)


def _kind(outlet: OutletRow) -> str:
    name = outlet.name.lower()
    if "pizz" in name:
        return "pizza"
    if "tea" in name or "bubble" in name:
        return "tea"
    if "kopi" in name or "cafe" in name or "coffee" in name or "bake" in name:
        return "cafe"
    return "meals"


def _orders(rng, products, outlets, today, settings, zone) -> list[OrderRow]:
    ordering = [o for o in outlets if o.usual_order_value > 0]
    weights = [float(o.usual_order_value) ** 0.5 for o in ordering]
    by_category: dict[str, list[ProductRow]] = {}
    for p in products:
        if p.stock > 0:
            by_category.setdefault(p.category, []).append(p)
    orders: list[OrderRow] = []
    for _ in range(ORDER_COUNT):
        outlet = rng.choices(ordering, weights)[0]
        days = [weekday_index(d) for d in (outlet.usual_order_days or "Tuesday").split(";") if d] or [1]
        delivery = today - timedelta(days=rng.randint(-6, HISTORY_DAYS))
        while delivery.weekday() not in days:
            delivery -= timedelta(days=1)
        created = datetime.combine(delivery - timedelta(days=rng.randint(1, 3)), time(rng.randint(8, 13), rng.choice([0, 15, 30, 45])), zone)
        lines = _lines(rng, by_category, _BASKETS[_kind(outlet)], outlet.usual_order_value)
        subtotal = to_money(sum((line.line_total for line in lines), Decimal("0")))
        gst = to_money(subtotal * Decimal(str(settings.tax_rate)))
        if delivery < today:
            status = "cancelled" if rng.random() < 0.05 else "delivered"
        elif delivery == today:
            status = "out_for_delivery"
        else:
            status = "pending" if rng.random() < 0.3 else "confirmed"
        orders.append(OrderRow(
            customer_id=outlet.customer_id, status=status, created_at=created, delivery_date=delivery,
            subtotal=subtotal, gst=gst, total=subtotal + gst, lines=lines,
        ))
    return orders


def _lines(rng, by_category, categories, usual_value: Decimal) -> list[OrderLineRow]:
    chosen = [rng.choice(by_category[c]) for c in categories[: rng.randint(1, len(categories))] if c in by_category]
    budget = float(usual_value) * rng.uniform(0.7, 1.2)
    share = budget / len(chosen)
    lines = []
    for product in chosen:
        units = max(1, round(share / float(product.price) / product.min_order_qty))
        quantity = units * product.min_order_qty
        lines.append(OrderLineRow(
            sku=product.sku, name=product.name, unit=product.unit, quantity=quantity,
            unit_price=product.price, line_total=to_money(product.price * quantity),
        ))
    return lines



# --- the fixed business day of the tests and the evaluation --------------------------


class Clock:
    """A settable business clock: says `now` (DEMO_NOW unless given) until it is moved."""

    def __init__(self, now: datetime = DEMO_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def embedded_settings(var: Path) -> Settings:
    """Settings for the embedded mode in `var`, whatever DATABASE_URL, REDIS_URL... say."""
    var = Path(var)
    return Settings(
        VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'tria.db'}",
        CHECKPOINT_DB=str(var / "checkpoints.db"),
        CHROMA_DIR=str(var / "chroma"),
        CHROMA_HOST="",
        REDIS_URL="",
    )


def seed_database(settings: Settings, today: date = DEMO_NOW.date()) -> None:
    """Migrate the settings' database and write the demo data as of `today`."""
    from .adapters.database import make_engine, session_factory
    from .adapters.migrations import migrate

    engine = make_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        with session_factory(engine)() as session:
            seed(session, settings, today=today)
    finally:
        engine.dispose()


def build_demo_var(var: Path, embeddings) -> Path:
    """A VAR_DIR with the demo database seeded for DEMO_NOW, the knowledge base and a
    trained classifier (embedded mode). `var/models` may already hold the trained classifier."""
    from .adapters.intent_classifier import IntentClassifier
    from .adapters.policy_kb import PolicyKB, catalog_passages, load_policy_passages

    var = Path(var)
    var.mkdir(parents=True, exist_ok=True)
    settings = embedded_settings(var)
    seed_database(settings)
    kb = PolicyKB.from_settings(settings, embeddings)
    kb.build(load_policy_passages(DATA_DIR / "policies") + catalog_passages(catalog_products()))
    IntentClassifier.load_or_train(embeddings, var / "models", settings.intent_threshold)
    return var
