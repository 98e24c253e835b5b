"""each clip's quality report and findings; how a clip came about (recorded, re-recorded,
supplementary, imported), the clip it follows, the time of sale and the customer's consent; each
product's shortest recording; the media analyses started and not yet reported

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 21:00:00

Clips archived before this revision are "recorded" and carry no report: their findings appear when
they are checked again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_duration_s", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_report_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=16), server_default="recorded", nullable=False))
        batch_op.add_column(sa.Column("earlier_clip_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("sale_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_recordings_earlier_clip_id"), ["earlier_clip_id"], unique=False)
        batch_op.create_index("ix_recordings_quality_started", ["quality_verdict", "started_at"], unique=False)
    op.create_table(
        "quality_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_quality_findings_recording_id_recordings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_findings")),
    )
    with op.batch_alter_table("quality_findings", schema=None) as batch_op:
        batch_op.create_index("ix_quality_findings_code_recording", ["code", "recording_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quality_findings_recording_id"), ["recording_id"], unique=False)
    op.create_table(
        "quality_attempts",
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_quality_attempts_recording_id_recordings")
        ),
        sa.PrimaryKeyConstraint("recording_id", name=op.f("pk_quality_attempts")),
    )


def downgrade() -> None:
    op.drop_table("quality_attempts")
    op.drop_table("quality_findings")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index("ix_recordings_quality_started")
        batch_op.drop_index(batch_op.f("ix_recordings_earlier_clip_id"))
        batch_op.drop_column("consent_at")
        batch_op.drop_column("sale_at")
        batch_op.drop_column("earlier_clip_id")
        batch_op.drop_column("origin")
        batch_op.drop_column("quality_report_json")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("min_duration_s")
