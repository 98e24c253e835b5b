"""sync state (ETags of products, staff, branch), the center's view of this branch, audit lines sent up

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:53:23.217679
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "center_branch_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("counters_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_center_branch_view")),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
        sa.UniqueConstraint("resource", name=op.f("uq_sync_state_resource")),
    )
    with op.batch_alter_table("local_audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_local_audit_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("local_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_local_audit_sent_at"))
        batch_op.drop_column("sent_at")

    op.drop_table("sync_state")
    op.drop_table("center_branch_view")
