"""branch heartbeats and branch audit receipts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:53:22.457191
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branch_audit_receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("branch_audit_id", sa.BigInteger(), nullable=False),
        sa.Column("audit_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_event_id"], ["audit_events.id"], name=op.f("fk_branch_audit_receipts_audit_event_id_audit_events")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_audit_receipts_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_audit_receipts")),
        sa.UniqueConstraint(
            "branch_id", "branch_audit_id", name=op.f("uq_branch_audit_receipts_branch_id_branch_audit_id")
        ),
    )
    op.create_table(
        "branch_heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("software_version", sa.String(length=64), nullable=False),
        sa.Column("clock_offset_s", sa.Float(), nullable=False),
        sa.Column("queued_clips", sa.Integer(), nullable=False),
        sa.Column("queued_bytes", sa.BigInteger(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_branch_heartbeats_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_heartbeats")),
        sa.UniqueConstraint("branch_id", name=op.f("uq_branch_heartbeats_branch_id")),
    )


def downgrade() -> None:
    op.drop_table("branch_heartbeats")
    op.drop_table("branch_audit_receipts")
