"""turn journal, deliveries, chat reachability, strangers' notices; inbox lease owner and error"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(64)))
        batch.add_column(sa.Column("error", sa.String(500)))
    op.create_index("ix_inbox_chat_id", "inbox", ["chat_id"])
    op.create_table(
        "turns",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "deliveries",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.BigInteger()),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "chat_state",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("unreachable_since", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.String(200)),
    )
    op.create_table(
        "stranger_notices",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("stranger_notices", "chat_state", "deliveries", "turns"):
        op.drop_table(table)
    op.drop_index("ix_inbox_chat_id", "inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("error")
        batch.drop_column("lease_owner")
