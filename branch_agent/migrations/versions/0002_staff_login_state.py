"""staff login state: failed sign-ins and locks survive a restart

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_login_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_code", sa.String(length=7), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_state")),
        sa.UniqueConstraint("staff_code", name=op.f("uq_staff_login_state_staff_code")),
    )


def downgrade() -> None:
    op.drop_table("staff_login_state")
