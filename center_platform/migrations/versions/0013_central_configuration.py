"""central configuration: each branch's cameras, upload window and limits as the system admin set them
(one versioned document per branch), and the branch's report of what it applied or refused

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "branch_central_configs",
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_central_configs_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_central_configs")),
    )
    op.create_table(
        "branch_config_reports",
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("applied_version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waiting_counters_json", sa.Text(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_branch_config_reports_branch_id_branches")
        ),
        sa.PrimaryKeyConstraint("branch_id", name=op.f("pk_branch_config_reports")),
    )


def downgrade() -> None:
    op.drop_table("branch_config_reports")
    op.drop_table("branch_central_configs")
