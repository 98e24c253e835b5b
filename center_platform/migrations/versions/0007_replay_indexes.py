"""replay indexes: each archived clip's fragment index, from which the player's view is built

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:30:00

Clips archived before this revision get their index on their first replay.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_indexes",
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.String(length=128), nullable=False),
        sa.Column("media_size", sa.BigInteger(), nullable=False),
        sa.Column("fragment_index", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_replay_indexes_recording_id_recordings")
        ),
        sa.PrimaryKeyConstraint("recording_id", name=op.f("pk_replay_indexes")),
    )


def downgrade() -> None:
    op.drop_table("replay_indexes")
