"""disputes, job locks, retention reason, manifest chain, product markers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:29:33.627442

Existing rows get neutral defaults: no markers, no recorded reason (the audit trail has it), chain linked.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"], name=op.f("fk_disputes_recording_id_recordings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_recording_id"), ["recording_id"], unique=False)

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_markers", sa.Text(), nullable=False, server_default="[]"))

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_reason", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("prev_manifest_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("chain_status", sa.String(length=16), nullable=False, server_default="linked"))
        batch_op.create_index(batch_op.f("ix_recordings_prev_manifest_sha256"), ["prev_manifest_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_prev_manifest_sha256"))
        batch_op.drop_column("chain_status")
        batch_op.drop_column("prev_manifest_sha256")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("retention_reason")

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("required_markers")

    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_recording_id"))

    op.drop_table("disputes")
    op.drop_table("job_locks")
