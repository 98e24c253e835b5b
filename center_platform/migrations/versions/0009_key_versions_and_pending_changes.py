"""branch signing keys kept as versions; changes awaiting a second system admin (four eyes)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00

Every branch's current key becomes its first version, valid from the start (it verified the branch's
clips until now) and approved at enrolment.
"""

import base64
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    keys = op.create_table(
        "branch_signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_branch_signing_keys_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_signing_keys")),
        sa.UniqueConstraint("branch_id", "key_id", name=op.f("uq_branch_signing_keys_branch_id_key_id")),
    )
    op.create_index(op.f("ix_branch_signing_keys_branch_id"), "branch_signing_keys", ["branch_id"], unique=False)
    op.create_table(
        "pending_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=False),
        sa.Column("after_json", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_changes")),
    )
    op.create_index(op.f("ix_pending_changes_state"), "pending_changes", ["state"], unique=False)
    op.create_index(op.f("ix_pending_changes_target"), "pending_changes", ["target"], unique=False)

    branches = sa.table(
        "branches",
        sa.column("id", sa.Integer()),
        sa.column("signing_public_key", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(branches.c.id, branches.c.signing_public_key, branches.c.created_at).where(
            branches.c.signing_public_key.is_not(None)
        )
    ).all()
    op.bulk_insert(
        keys,
        [
            {
                "branch_id": branch_id,
                "key_id": hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16],
                "public_key": public_key,
                "valid_from": None,
                "valid_to": None,
                "proposed_by": "",
                "approved_by": "enrolment",
                "created_at": created_at,
            }
            for branch_id, public_key, created_at in rows
            if public_key
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_changes_target"), table_name="pending_changes")
    op.drop_index(op.f("ix_pending_changes_state"), table_name="pending_changes")
    op.drop_table("pending_changes")
    op.drop_index(op.f("ix_branch_signing_keys_branch_id"), table_name="branch_signing_keys")
    op.drop_table("branch_signing_keys")
