"""the center's signed verification kept with each clip; the spool purge requires it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00

Clips verified before this revision have no receipt: the next upload run asks the center again (it
answers "verified", signed) and keeps the receipt; until then they are not purged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("verification_receipt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("verification_receipt")
