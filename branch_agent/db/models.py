"""Spool records. Times are UTC."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.contract.roles import StaffRole
from storage.database import UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# Recording lifecycle of a clip on this host.
RECORDING, COMPLETED, CANCELLED, INTERRUPTED = "recording", "completed", "cancelled", "interrupted"
# Upload lifecycle; `purged` only after the center said verified and the keep period passed.
PENDING, UPLOADING, UPLOADED, VERIFIED, PURGED, QUARANTINED = (
    "pending",
    "uploading",
    "uploaded",
    "verified",
    "purged",
    "quarantined",
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Clip(Base):
    __tablename__ = "clips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), unique=True)
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7), index=True)
    business_serial: Mapped[str] = mapped_column(String(64))
    # The sale as entered, kept from the start so that an interrupted clip still gets a full manifest.
    sale_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    media_path: Mapped[str] = mapped_column(String(500))
    manifest_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    upload_state: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    upload_error: Mapped[str] = mapped_column(Text, default="")
    upload_attempts: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    retain_until: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The center's signed answer that it verified this clip (storage.contract.reply_signing.ReplyReceipt
    # as JSON). The spool purge deletes no media without it.
    verification_receipt: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How the take came about, consent, markers so far (branch_agent.spool.take_context.TakeContext).
    context_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The quality check run here after the clip was closed (storage.quality.QualityReport as JSON);
    # NULL verdict: not checked yet. A check that could not run leaves its error and no verdict.
    quality_verdict: Mapped[str | None] = mapped_column(String(8), nullable=True)
    quality_report_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    quality_error: Mapped[str] = mapped_column(Text, default="", server_default="")


class ChainHead(Base):
    """The hash of the newest manifest this branch signed; the next manifest links to it."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class UploadTransition(Base):
    __tablename__ = "upload_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class LocalAudit(Base):
    """Branch-side audit lines (login, start, cancel, complete, replay); sent up with the heartbeat later."""

    __tablename__ = "local_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    # Set once the center acknowledged the line in a heartbeat receipt; NULL lines go with the next one.
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)


class SyncedProduct(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type_code: Mapped[str] = mapped_column(String(40))
    type_name: Mapped[str] = mapped_column(String(200))
    term_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    risk_level: Mapped[str] = mapped_column(String(8))
    disclosure_script: Mapped[str] = mapped_column(Text, default="")
    # JSON list of the moments the recording must show, in order; the teleprompter's steps.
    required_markers: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    min_duration_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SyncedStaff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(7), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(256))


class StaffLoginState(Base):
    """Failed sign-ins per staff code, kept in the database so that a restart does not lift a lock.

    Keyed by the code as typed (which may belong to nobody), so guessing codes locks them too.
    """

    __tablename__ = "staff_login_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_code: Mapped[str] = mapped_column(String(7), unique=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SyncState(Base):
    """Per synced resource (products, staff, branch): the center's last ETag and how the last attempt went.

    The ETag is written in the same transaction as the local copy it describes, so the two never disagree.
    """

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(32), unique=True)
    etag: Mapped[str | None] = mapped_column(String(80), nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class CenterBranchView(Base):
    """This branch as the center knows it (name, time zone, counters); shown and compared, never applied."""

    __tablename__ = "center_branch_view"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    counters_json: Mapped[str] = mapped_column(Text, default="[]")


# Tables kept in their own modules (same metadata) so that this one stays small.
from branch_agent.db import central_config_models as _central_config_models  # noqa: E402,F401
from branch_agent.db import supplementary_models as _supplementary_models  # noqa: E402,F401
