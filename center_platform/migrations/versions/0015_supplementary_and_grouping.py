"""approval of supplementary recordings, by the branch admin or a compliance officer

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 21:00:00

One row per decision, kept; the latest for a clip is its state. Clips are grouped by product type in
the store's keys from this release on; that needs no column, as every recording keeps its own key.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supplementary_approvals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("clip_id", sa.String(length=32), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("business_serial", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("decided_as", sa.String(length=24), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_supplementary_approvals_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplementary_approvals")),
    )
    with op.batch_alter_table("supplementary_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_supplementary_approvals_clip", ["clip_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supplementary_approvals_branch_id"), ["branch_id"], unique=False)


def downgrade() -> None:
    op.drop_table("supplementary_approvals")
