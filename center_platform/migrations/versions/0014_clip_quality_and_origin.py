"""clip quality reports and origin

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:00:00
"""

from alembic import op  # noqa: F401

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
