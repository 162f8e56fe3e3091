"""Transcripts, session activity for pruning, and indexes shaped like the lookups.

- chat_messages: one row per message, in langchain-postgres's table layout.
- chat_sessions.last_active_at (pruning) and transcript_id (the transcript's UUID key).
- orders (customer_id, created_at) and escalations (customer_id, kind) replace
  single-column indexes: "latest order" and "count complaints" read exactly these.

Revision ID: 0002
Revises: 0001
"""

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _transcript_id(session_id: str) -> uuid.UUID:
    # Frozen copy of tria_graph.adapters.database.transcript_id: a migration must not
    # change meaning when the code does.
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tria-session:{session_id}")


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column(
            "message",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()" if op.get_bind().dialect.name == "postgresql" else "CURRENT_TIMESTAMP"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chat_messages_session_id", "chat_messages", ["session_id"])

    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("transcript_id", sa.Uuid(), nullable=True))
    sessions = sa.table(
        "chat_sessions",
        sa.column("session_id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("last_active_at", sa.DateTime(timezone=True)),
        sa.column("transcript_id", sa.Uuid),
    )
    conn = op.get_bind()
    for session_id, created_at in conn.execute(sa.select(sessions.c.session_id, sessions.c.created_at)).all():
        conn.execute(
            sessions.update()
            .where(sessions.c.session_id == session_id)
            .values(last_active_at=created_at, transcript_id=_transcript_id(session_id))
        )
    with op.batch_alter_table("chat_sessions") as batch:
        batch.alter_column("last_active_at", nullable=False)
        batch.alter_column("transcript_id", nullable=False)
        batch.create_unique_constraint("uq_chat_sessions_transcript_id", ["transcript_id"])
        batch.create_index("ix_chat_sessions_last_active_at", ["last_active_at"])

    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_customer_id")
        batch.drop_index("ix_orders_created_at")
        batch.create_index("ix_orders_customer_created", ["customer_id", "created_at"])
    with op.batch_alter_table("escalations") as batch:
        batch.drop_index("ix_escalations_customer_id")
        batch.create_index("ix_escalations_customer_kind", ["customer_id", "kind"])


def downgrade() -> None:
    with op.batch_alter_table("escalations") as batch:
        batch.drop_index("ix_escalations_customer_kind")
        batch.create_index("ix_escalations_customer_id", ["customer_id"])
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_customer_created")
        batch.create_index("ix_orders_created_at", ["created_at"])
        batch.create_index("ix_orders_customer_id", ["customer_id"])
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_index("ix_chat_sessions_last_active_at")
        batch.drop_constraint("uq_chat_sessions_transcript_id", type_="unique")
        batch.drop_column("transcript_id")
        batch.drop_column("last_active_at")
    op.drop_index("ix_chat_messages_session_id", table_name="chat_messages")
    op.drop_table("chat_messages")
