"""per-user session generation: signing out, a new password, role or branch and deactivation end sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 18:00:00

Sessions started before this revision carry no generation and end at their next request: everyone
signs in once more.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
