"""The orders database: tables and the engine.

SQLite file by default (DATABASE_URL unset), Postgres when DATABASE_URL says so. The
schema is created and changed by the Alembic migrations in `tria_graph/migrations`
(see `adapters/migrations.py`); these classes are what the code reads and writes.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import uuid

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Uuid,
    create_engine,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    pass


class ProductRow(Base):
    __tablename__ = "products"
    sku: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    size: Mapped[str] = mapped_column(String(40), default="")
    unit: Mapped[str] = mapped_column(String(20))
    price: Mapped[Decimal] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer)
    min_order_qty: Mapped[int] = mapped_column(Integer)
    aliases: Mapped[str] = mapped_column(Text, default="")


class OutletRow(Base):
    __tablename__ = "outlets"
    customer_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    contact_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(Text)
    usual_order_value: Mapped[Decimal] = mapped_column(Money)
    usual_order_days: Mapped[str] = mapped_column(String(80), default="")


class OrderRow(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("outlets.customer_id"))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivery_date: Mapped[date] = mapped_column(Date)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    gst: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    # The draft that became this order: a resumed or retried turn finds the order
    # it already wrote instead of writing a second one.
    draft_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    lines: Mapped[list[OrderLineRow]] = relationship(
        back_populates="order", order_by="OrderLineRow.id", cascade="all, delete-orphan"
    )
    # "my latest order" and anomaly checks read one customer's orders newest first.
    __table_args__ = (Index("ix_orders_customer_created", "customer_id", "created_at"),)


class OrderLineRow(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    sku: Mapped[str] = mapped_column(ForeignKey("products.sku"))
    name: Mapped[str] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    line_total: Mapped[Decimal] = mapped_column(Money)
    order: Mapped[OrderRow] = relationship(back_populates="lines")


class InvoiceRow(Base):
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    # One order, one invoice: the database refuses a second.
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("outlets.customer_id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    gst: Mapped[Decimal] = mapped_column(Money)
    total: Mapped[Decimal] = mapped_column(Money)
    # local: made before Xero existed, never to be sent. not_sent: waiting in the
    # outbox (Xero not configured yet, or not reached yet). sent, rejected (Xero's 400,
    # escalated), cancelled (order cancelled before it went out), void_pending, voided.
    delivery_status: Mapped[str] = mapped_column(String(20), default="local")
    # Xero's InvoiceID and InvoiceNumber once Xero accepted the invoice.
    external_id: Mapped[str | None] = mapped_column(String(64))
    external_number: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why Xero refused it, or the last error while sending or voiding.
    delivery_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """Work for Xero, written in the same transaction as the change that needs it.

    kind: create_invoice | void_invoice. status: pending -> done | failed | cancelled.
    A worker claims a pending row by setting lease_owner/lease_until (compare-and-set),
    so two workers never hold it at once; a crashed worker's lease runs out.
    """

    __tablename__ = "xero_outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    # Sent as Xero's Idempotency-Key: derived from the order, so every retry and every
    # worker sends the same one.
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_xero_outbox_status_next", "status", "next_attempt_at"),)


class XeroContactRow(Base):
    """The outlet's Xero contact, found or created once."""

    __tablename__ = "xero_contacts"
    customer_id: Mapped[str] = mapped_column(ForeignKey("outlets.customer_id"), primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class XeroTokenRow(Base):
    """The OAuth2 token set and tenant, one row per connection, encrypted (Fernet)."""

    __tablename__ = "xero_tokens"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    token: Mapped[str] = mapped_column(Text)  # Fernet ciphertext of the token JSON
    expires_at: Mapped[float] = mapped_column(Numeric(16, 3))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EscalationRow(Base):
    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("outlets.customer_id"))
    session_id: Mapped[str] = mapped_column(String(128), default="")
    level: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(20))  # complaint | anomaly
    reason: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Repeat complaints are counted per customer to pick the escalation level.
    __table_args__ = (Index("ix_escalations_customer_kind", "customer_id", "kind"),)


class ChatSessionRow(Base):
    """Who owns a session, and when it was last used (pruning removes idle ones)."""

    __tablename__ = "chat_sessions"
    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("outlets.customer_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_active_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The key of this session's rows in chat_messages (a UUID, as langchain-postgres
    # requires): operators join chat_sessions to chat_messages on it.
    transcript_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)


def transcript_id(session_id: str) -> uuid.UUID:
    """The transcript key of a session: derived, so every replica computes the same."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tria-session:{session_id}")


class ChatMessageRow(Base):
    """The transcript, one row per message, in the table layout of langchain-postgres's
    PostgresChatMessageHistory (which writes it on Postgres; `message` is a LangChain
    message dict: {"type": "human"|"ai", "data": {"content": ...}})."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    message: Mapped[dict] = mapped_column(JSON().with_variant(JSONB, "postgresql"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserRow(Base):
    """Someone who logs in: an outlet's user (role customer, outlet_id set; an outlet
    may have several) or Tria's staff (role staff or admin, no outlet)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    # argon2id (tria_graph/auth/passwords.py); NULL until the user sets a password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # customer | staff | admin
    outlet_id: Mapped[str | None] = mapped_column(ForeignKey("outlets.customer_id"), index=True)
    # Every token carries the version it was issued under; bumping it (password set,
    # `tria user revoke`) revokes all the user's tokens at once.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An integration's API key: only the key's SHA-256 is stored. Several keys may share
    a name (an integration's old and new key while it rotates)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, e.g. "chat"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedTokenRow(Base):
    """One revoked token (logout, a used set-password link), kept until it expires anyway."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditRow(Base):
    """Who did what to which order, session or key, and when. Never a secret."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # user | api_key | staff | cli
    actor: Mapped[str] = mapped_column(String(254))  # email, key name, or "cli"
    outlet_id: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(40))  # login, token.issued, order.placed...
    target: Mapped[str | None] = mapped_column(String(128))  # SO-10023, a session id, a key name
    details: Mapped[dict] = mapped_column(JSON, default=dict)


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # pre_ping: after a database restart, stale pooled connections are replaced
    # instead of failing the next request.
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


class Database:
    """The orders database as the stores share it: one engine, one session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)

    @classmethod
    def from_url(cls, url: str, pool_size: int = 10, max_overflow: int = 20) -> Database:
        return cls(make_engine(url, pool_size, max_overflow))

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()
