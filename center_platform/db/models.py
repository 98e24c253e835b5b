"""The center's catalogue: typed SQLAlchemy 2.0 models. Times are stored as UTC."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NO_VALUE

from storage.contract.roles import StaffRole
from storage.database import UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # Shared secret for HMAC-signed branch requests; production keeps it in a secrets store.
    api_secret: Mapped[str] = mapped_column(String(128))
    signing_public_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    counters: Mapped[list[Counter]] = relationship(back_populates="branch")


class Counter(Base):
    __tablename__ = "counters"
    __table_args__ = (UniqueConstraint("branch_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))

    branch: Mapped[Branch] = relationship(back_populates="counters")


class Staff(Base):
    """Branch staff (relationship managers, branch admins), synced down to the branch agents."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(7), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(String(32))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Base):
    """People who sign in to the center UI."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))  # compliance_officer | system_admin | auditor | branch_admin
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A session is valid only while this is what it was when it began (web.user_auth): signing out, a
    # new password, a new role or branch and (de)activation move it on, ending every session at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def _end_user_sessions(target: User, value: object, oldvalue: object, _initiator: object) -> None:
    """Whoever changes these through the ORM (admin pages, API, CLI) ends the user's sessions."""
    if oldvalue is NO_VALUE or value == oldvalue:
        return  # a new user, or the same value again
    target.session_generation = (target.session_generation or 0) + 1


for _attribute in (User.password_hash, User.role, User.branch_id, User.active):
    event.listen(_attribute, "set", _end_user_sessions, active_history=True)


class ProductType(Base):
    """A business type and the retention rule its recordings follow (the rule is data)."""

    __tablename__ = "product_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    retention_rule: Mapped[str] = mapped_column(String(32))  # fixed_term | open_ended
    years_after_maturity: Mapped[int] = mapped_column(Integer, default=2)
    years_after_purchase: Mapped[int] = mapped_column(Integer, default=5)
    years_after_redemption: Mapped[int] = mapped_column(Integer, default=2)
    years_after_dispute: Mapped[int] = mapped_column(Integer, default=2)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    product_type_id: Mapped[int] = mapped_column(ForeignKey("product_types.id"), index=True)
    term_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    maturity_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    risk_level: Mapped[str] = mapped_column(String(8))  # R1..R5
    disclosure_script: Mapped[str] = mapped_column(Text, default="")
    # JSON list of the moments the recording must show (risk disclosure read, customer's confirmation...).
    required_markers: Mapped[str] = mapped_column(Text, default="[]")
    # The shortest recording the product allows, in seconds (0: no minimum); checked on every clip.
    min_duration_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    product_type: Mapped[ProductType] = relationship()


class IngestUpload(Base):
    """A clip on its way in. Nothing here is catalogued until verified; failures stay here in quarantine."""

    __tablename__ = "ingest_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    manifest_json: Mapped[str] = mapped_column(Text)
    object_key: Mapped[str] = mapped_column(String(300))
    upload_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), index=True)  # uploading | verified | quarantined
    # Set once the store has assembled the object, so a retry after a crash verifies that version.
    version_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


# Recording states. `missing`: the catalogue holds it but the store no longer has its media (found by
# expiry or the store scrub); it is never certified as deleted. `altered`: the stored bytes no longer
# match the verified hash (found by the scrub).
ARCHIVED = "archived"
DELETED = "deleted"
MISSING = "missing"
ALTERED = "altered"


class Recording(Base):
    """A verified, locked clip in the archive: the search index over the object store."""

    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_branch_started", "branch_id", "started_at"),
        Index("ix_recordings_staff_started", "staff_code", "started_at"),
        Index("ix_recordings_product_started", "product_id", "started_at"),
        Index("ix_recordings_retain_state", "state", "retain_until"),
        Index("ix_recordings_type_started", "product_type_id", "started_at"),
        Index("ix_recordings_state_started", "state", "started_at"),
        Index("ix_recordings_branch_chain", "branch_id", "chain_status"),
        # One successor per manifest and branch: a fork can never be catalogued, however it races.
        Index("ux_recordings_branch_prev_manifest", "branch_id", "prev_manifest_sha256", unique=True),
        # PostgreSQL only (created by migration 0004): customer-name prefix search under any collation,
        # and "contains" through the name's one- and two-character pieces (CJK names are 2-4 characters,
        # too short for trigrams).
        Index(
            "ix_recordings_customer_name_prefix",
            "customer_name",
            postgresql_ops={"customer_name": "varchar_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
        Index("ix_recordings_customer_name_grams", text("dr_name_grams(customer_name)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7))
    business_serial: Mapped[str] = mapped_column(String(64), index=True)
    customer_name: Mapped[str] = mapped_column(String(100), index=True)
    customer_id_type: Mapped[str] = mapped_column(String(24))
    customer_id_number: Mapped[str] = mapped_column(String(32), index=True)
    card_number: Mapped[str] = mapped_column(String(19), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_type_id: Mapped[int] = mapped_column(ForeignKey("product_types.id"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    clip_state: Mapped[str] = mapped_column(String(16))  # completed | interrupted (as recorded)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    manifest_sha256: Mapped[str] = mapped_column(String(64), index=True)  # the chain is followed by it at ingest
    manifest_json: Mapped[str] = mapped_column(Text)
    object_key: Mapped[str] = mapped_column(String(300))
    version_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))  # archived | deleted | missing | altered
    retention_rule: Mapped[str] = mapped_column(String(32))
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime())
    # Why retain_until is what it is ("maturity 2027-03-01 + 2y"); each change is also in the audit trail.
    retention_reason: Mapped[str] = mapped_column(Text, default="")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    redeemed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The branch chain: the manifest this one follows, and whether the center holds it.
    prev_manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    chain_status: Mapped[str] = mapped_column(String(16), default="linked")  # first|linked|awaiting|restarted
    # The quality check's verdict (pass | fail), written by that feature; NULL until a clip is checked.
    # Reconciliation counts "fail" as a failed quality check.
    quality_verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The center's quality report (JSON, storage.quality.QualityReport); its findings are also rows of
    # quality_findings so that search can filter by them.
    quality_report_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How the clip came about (the manifest's `origin`): recorded | re_recorded | supplementary | imported.
    origin: Mapped[str] = mapped_column(String(16), default="recorded", server_default="recorded")
    earlier_clip_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # When the sale itself took place, where that is not during the recording (a supplementary one).
    sale_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    branch: Mapped[Branch] = relationship()
    product: Mapped[Product] = relationship()


class AuditEvent(Base):
    """Append-only, hash-chained: each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(128), index=True)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class BranchNonce(Base):
    """Nonces of signed branch requests inside the freshness window; a replay hits the unique key."""

    __tablename__ = "branch_nonces"
    __table_args__ = (UniqueConstraint("branch_id", "nonce"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class AuditHead(Base):
    """One row: the chain's tip. Updating it first serialises appends on SQLite and PostgreSQL alike."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger)


class BranchHeartbeat(Base):
    """The latest heartbeat of each branch (one row per branch, replaced each minute).

    The whole message is kept as JSON for the operations page; the columns are what it sorts and alerts on.
    """

    __tablename__ = "branch_heartbeats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    software_version: Mapped[str] = mapped_column(String(64))
    clock_offset_s: Mapped[float] = mapped_column(Float)
    queued_clips: Mapped[int] = mapped_column(Integer)
    queued_bytes: Mapped[int] = mapped_column(BigInteger)
    alert_count: Mapped[int] = mapped_column(Integer)
    payload_json: Mapped[str] = mapped_column(Text)


class BranchAuditReceipt(Base):
    """Which branch-local audit lines are already in the trail: the unique key makes a re-send a no-op."""

    __tablename__ = "branch_audit_receipts"
    __table_args__ = (UniqueConstraint("branch_id", "branch_audit_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    branch_audit_id: Mapped[int] = mapped_column(BigInteger)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"))


class Dispute(Base):
    """A complaint or litigation touching a recording: legal hold while open, retention runs on after it closes."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))  # the bank's case number
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The day it was closed in the branch's time zone: the retention rule counts from it.
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    resolution: Mapped[str] = mapped_column(Text, default="")


class JobLock(Base):
    """One runner at a time for a scheduled job across center processes; a lease that expires if its holder dies."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StoreScrubRun(Base):
    """One pass of the store scrub: how much it checked, what it found, where the next pass goes on."""

    __tablename__ = "store_scrub_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    checked: Mapped[int] = mapped_column(Integer)
    hashed: Mapped[int] = mapped_column(Integer)
    listed: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    altered: Mapped[int] = mapped_column(Integer)
    unknown: Mapped[int] = mapped_column(Integer)
    findings_json: Mapped[str] = mapped_column(Text, default="[]")
    last_recording_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    # The store listing's continuation token for the next run ("" = from the first key).
    last_store_key: Mapped[str] = mapped_column(String(300), default="")

    @property
    def findings(self) -> list[dict[str, str]]:
        found: list[dict[str, str]] = json.loads(self.findings_json or "[]")
        return found


class ReplayIndex(Base):
    """A clip's fragment index (storage.mp4_index), from which the player's view of it is built.

    Made while ingest reads the object anyway, or on the first replay of a clip archived before;
    `fragment_index` is NULL for an object that cannot be indexed, which is then played as it is.
    """

    __tablename__ = "replay_indexes"

    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(128))  # the object version it describes
    media_size: Mapped[int] = mapped_column(BigInteger)
    fragment_index: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")  # why there is no index
    built_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class BranchSigningKey(Base):
    """One version of a branch's manifest-signing key: who proposed and approved it and when it was valid.

    A replaced key is closed (`valid_to`), never deleted, so that the clips it signed still verify at
    ingest and in their evidence packages. `valid_from` NULL: the branch's first key, valid from the start.
    """

    __tablename__ = "branch_signing_keys"
    __table_args__ = (UniqueConstraint("branch_id", "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    valid_to: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    proposed_by: Mapped[str] = mapped_column(String(64), default="")
    approved_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PendingChange(Base):
    """A change one system admin proposed and a different one must approve (four eyes) before it applies.

    `payload_json` is what is applied (for a password, its hash: never the password itself; emptied once
    decided); `before_json` and `after_json` are what the page and the audit trail show.
    """

    __tablename__ = "pending_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # retention_rule | branch_signing_key | user_password | user_role
    target: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | applied | rejected | expired
    payload_json: Mapped[str] = mapped_column(Text, default="{}")
    before_json: Mapped[str] = mapped_column(Text, default="{}")
    after_json: Mapped[str] = mapped_column(Text, default="{}")
    proposed_by: Mapped[str] = mapped_column(String(64))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


# The management half's tables share this metadata (kept in their own module for size).
from center_platform.db import config_models as _config_models  # noqa: E402,F401
from center_platform.db import operations_models as _operations_models  # noqa: E402,F401
from center_platform.db import quality_models as _quality_models  # noqa: E402,F401
from center_platform.db import reconciliation_models as _reconciliation_models  # noqa: E402,F401
from center_platform.db import report_models as _report_models  # noqa: E402,F401
from center_platform.db import supplementary_models as _supplementary_models  # noqa: E402,F401
