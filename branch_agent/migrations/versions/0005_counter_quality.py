"""a take's context (origin, consent, markers as they are set) and the quality check's verdict and report
on each clip; the product's required moments and shortest recording as the center sends them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:00:00

Clips recorded before this revision have no context (plain recordings) and no verdict; products get
their required moments at the next catalogue sync.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("quality_verdict", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("quality_report_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("quality_error", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("required_markers", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("min_duration_s", sa.Integer(), server_default="0", nullable=False))
    # The next sync must bring the products' required moments: forget the catalogue's ETag.
    op.execute("UPDATE sync_state SET etag = NULL WHERE resource = 'products'")


def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("min_duration_s")
        batch_op.drop_column("required_markers")
    with op.batch_alter_table("clips", schema=None) as batch_op:
        batch_op.drop_column("quality_error")
        batch_op.drop_column("quality_report_json")
        batch_op.drop_column("quality_verdict")
        batch_op.drop_column("context_json")
