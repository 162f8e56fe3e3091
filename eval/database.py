"""Read the bot's orders database (SQLAlchemy, any URL): end state, placeholders, leaks.

Only reads. The tables are the library's (tria_graph/adapters/database.py); queries
name columns so a new column elsewhere does not break them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine


def open_engine(url: str) -> Engine:
    return create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})


@dataclass(frozen=True)
class Marks:
    """The highest row ids before a case ran: its new rows are the ones above them."""

    orders: int
    invoices: int
    escalations: int


def marks(engine: Engine) -> Marks:
    with engine.connect() as conn:
        def top(table: str) -> int:
            return conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()

        return Marks(top("orders"), top("invoices"), top("escalations"))


@dataclass
class NewRows:
    """What one customer's conversation created: orders with lines, invoices, escalations."""

    orders: list[dict] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    escalations: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"orders": self.orders, "invoices": self.invoices, "escalations": self.escalations}


def new_rows(engine: Engine, customer_id: str, since: Marks) -> NewRows:
    rows = NewRows()
    with engine.connect() as conn:
        orders = conn.execute(
            text(
                "SELECT id, number, status, delivery_date, subtotal, total FROM orders "
                "WHERE customer_id = :c AND id > :m ORDER BY id"
            ),
            {"c": customer_id, "m": since.orders},
        ).mappings()
        for o in orders:
            lines = conn.execute(
                text("SELECT sku, quantity FROM order_lines WHERE order_id = :o ORDER BY id"), {"o": o["id"]}
            ).all()
            rows.orders.append(
                {
                    "number": o["number"],
                    "status": o["status"],
                    "delivery_date": str(o["delivery_date"])[:10],
                    "subtotal": str(Decimal(str(o["subtotal"])).quantize(Decimal("0.01"))),
                    "total": str(Decimal(str(o["total"])).quantize(Decimal("0.01"))),
                    "lines": {sku: int(qty) for sku, qty in lines},
                }
            )
        rows.invoices = [
            dict(r)
            for r in conn.execute(
                text("SELECT number, order_id FROM invoices WHERE customer_id = :c AND id > :m ORDER BY id"),
                {"c": customer_id, "m": since.invoices},
            ).mappings()
        ]
        rows.escalations = [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT reference, kind, level FROM escalations "
                    "WHERE customer_id = :c AND id > :m ORDER BY id"
                ),
                {"c": customer_id, "m": since.escalations},
            ).mappings()
        ]
    return rows


# --- placeholders -----------------------------------------------------------------
# Datasets name orders and outlets by role, not by number, so one file works against
# any seeded database: {order} is the customer's latest order, {order:confirmed} its
# latest confirmed one, {order@OUT-002} another outlet's latest, {outlet@OUT-002} that
# outlet's name; also {invoice}, {contact}, {phone}, {email}.
PLACEHOLDER = re.compile(r"\{(order|invoice|outlet|contact|phone|email)(?::([a-z_]+))?(?:@(OUT-\d{3}))?\}")


class PlaceholderError(LookupError):
    pass


def resolve(textual: str, engine: Engine, customer_id: str) -> str:
    """`textual` with every placeholder replaced by its value in this database."""
    if "{" not in textual:
        return textual

    def value(match: re.Match) -> str:
        what, status, outlet = match.group(1), match.group(2), match.group(3) or customer_id
        with engine.connect() as conn:
            if what == "order":
                sql = "SELECT number FROM orders WHERE customer_id = :c"
                if status:
                    sql += " AND status = :s"
                found = conn.execute(text(sql + " ORDER BY created_at DESC, id DESC LIMIT 1"), {"c": outlet, "s": status}).scalar()
            elif what == "invoice":
                found = conn.execute(
                    text("SELECT number FROM invoices WHERE customer_id = :c ORDER BY id DESC LIMIT 1"), {"c": outlet}
                ).scalar()
            else:
                column = {"outlet": "name", "contact": "contact_name", "phone": "phone", "email": "email"}[what]
                found = conn.execute(text(f"SELECT {column} FROM outlets WHERE customer_id = :c"), {"c": outlet}).scalar()
        if not found:
            raise PlaceholderError(f"{match.group(0)}: nothing in the database for {outlet}")
        return str(found)

    return PLACEHOLDER.sub(value, textual)


# --- leaks ------------------------------------------------------------------------
@dataclass
class LeakIndex:
    """Every outlet's private strings: name, contact, phone, email, address, order and
    invoice numbers. A reply to one outlet that shows another's is a leak."""

    private: dict[str, set[str]]

    @classmethod
    def load(cls, engine: Engine) -> LeakIndex:
        private: dict[str, set[str]] = {}
        with engine.connect() as conn:
            for row in conn.execute(text("SELECT customer_id, name, contact_name, phone, email, address FROM outlets")):
                private.setdefault(row[0], set()).update(v for v in row[1:] if v)
            for table in ("orders", "invoices"):
                for customer, number in conn.execute(text(f"SELECT customer_id, number FROM {table} WHERE number IS NOT NULL")):
                    private.setdefault(customer, set()).add(number)
        return cls(private)

    def leaks(self, reply: str, customer_id: str, said: str = "") -> list[str]:
        """Other outlets' strings in `reply` that the customer did not type themselves."""
        reply_l, said_l = reply.casefold(), said.casefold()
        found = []
        for outlet, values in self.private.items():
            if outlet == customer_id:
                continue
            for value in values:
                v = value.casefold()
                if _contains(reply_l, v) and not _contains(said_l, v):
                    found.append(value)
        return sorted(set(found))


def _contains(haystack: str, needle: str) -> bool:
    # Whole tokens only: SO-1029 must not match inside SO-10292.
    return re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", haystack) is not None
