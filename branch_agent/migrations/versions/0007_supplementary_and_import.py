"""the branch admin's decisions on supplementary recordings, kept until the center has them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 21:00:00

Imported recordings need no column: their signed manifest says where they came from.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplementary_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.String(length=32), nullable=False),
        sa.Column("business_serial", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=7), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("center_outcome", sa.String(length=16), nullable=True),
        sa.Column("center_state", sa.String(length=16), nullable=True),
        sa.Column("send_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplementary_decisions")),
        sa.UniqueConstraint("clip_id", name=op.f("uq_supplementary_decisions_clip_id")),
    )
    with op.batch_alter_table("supplementary_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supplementary_decisions_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    op.drop_table("supplementary_decisions")
