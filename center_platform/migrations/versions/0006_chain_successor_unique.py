"""one successor per manifest and branch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:40:00

Forks were quarantined before they reached the catalogue, so existing rows already satisfy the key.
Clips that start a branch's chain again get chain_status `restarted` from now on (a plain string).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ux_recordings_branch_prev_manifest", "recordings", ["branch_id", "prev_manifest_sha256"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_recordings_branch_prev_manifest", table_name="recordings")
