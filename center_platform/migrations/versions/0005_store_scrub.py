"""store scrub runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:10:00

Recording states gain `missing` and `altered` (a plain string column: no data change).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_scrub_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("hashed", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("altered", sa.Integer(), nullable=False),
        sa.Column("unknown", sa.Integer(), nullable=False),
        sa.Column("findings_json", sa.Text(), nullable=False),
        sa.Column("last_recording_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_store_key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_scrub_runs")),
    )
    op.create_index(op.f("ix_store_scrub_runs_started_at"), "store_scrub_runs", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_store_scrub_runs_started_at"), table_name="store_scrub_runs")
    op.drop_table("store_scrub_runs")
