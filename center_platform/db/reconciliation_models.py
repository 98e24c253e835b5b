"""Catalogue tables of the management half: the core system's sales ledger, cancelled takes and the
branches' upload backlog as heartbeats report them, reconciliation of sales against recordings, the
gaps compliance works, and the daily figures the reports read (so a report never scans recordings).

Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past
the size the tree allows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from center_platform.db.models import Base
from storage.database import UtcDateTime, utcnow

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class LedgerImport(Base):
    """One file (or API body) of the core system's sales ledger, and what became of its rows."""

    __tablename__ = "ledger_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(8))  # ui | api
    file_name: Mapped[str] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_new: Mapped[int] = mapped_column(Integer)
    rows_same: Mapped[int] = mapped_column(Integer)
    rows_conflict: Mapped[int] = mapped_column(Integer)
    rows_bad: Mapped[int] = mapped_column(Integer)
    # Bad rows and conflicts (line, field, reason in Chinese and English), capped; see ledger_import.
    problems_json: Mapped[str] = mapped_column(Text, default="[]")


class LedgerSale(Base):
    """A sale as the core system booked it; its serial names it for good (never overwritten)."""

    __tablename__ = "ledger_sales"
    __table_args__ = (
        Index("ix_ledger_sales_day_branch", "sale_day", "branch_id"),
        Index("ix_ledger_sales_customer_product_sold", "customer_id_number", "product_id", "sold_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    business_serial: Mapped[str] = mapped_column(String(64), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    staff_code: Mapped[str] = mapped_column(String(7))
    customer_id_type: Mapped[str] = mapped_column(String(24))
    customer_id_number: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_type_id: Mapped[int] = mapped_column(ForeignKey("product_types.id"))
    amount: Mapped[str] = mapped_column(String(24))  # exactly as booked, two decimals: money is never a float
    sold_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sale_day: Mapped[date] = mapped_column(Date)  # in the branch's time zone
    content_sha256: Mapped[str] = mapped_column(String(64))  # what a re-import is compared with
    import_id: Mapped[int] = mapped_column(ForeignKey("ledger_imports.id"))


class CancelledTake(Base):
    """A take cancelled at the counter (取消录像), as the branch's heartbeat reported it."""

    __tablename__ = "cancelled_takes"
    __table_args__ = (Index("ix_cancelled_takes_day_branch", "take_day", "branch_id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    clip_id: Mapped[str] = mapped_column(String(32), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7))
    business_serial: Mapped[str] = mapped_column(String(64), index=True)
    product_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    cancelled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    take_day: Mapped[date] = mapped_column(Date)  # in the branch's time zone
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class QueuedTake(Base):
    """A clip still in a branch's upload backlog at its latest heartbeat (the set is replaced each time)."""

    __tablename__ = "queued_takes"
    __table_args__ = (UniqueConstraint("branch_id", "clip_id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    clip_id: Mapped[str] = mapped_column(String(32))
    business_serial: Mapped[str] = mapped_column(String(64), index=True)
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReconciledSale(Base):
    """A sale's outcome in its day's latest reconciliation run (rows of a day are replaced by each run)."""

    __tablename__ = "reconciled_sales"
    __table_args__ = (
        Index("ix_reconciled_sales_day_branch", "day", "branch_id"),
        # The reports count the few sales covered only by a supplementary recording: a period's other sales
        # (a million a month) stay out of the index, and out of the reading.
        Index(
            "ix_reconciled_sales_supplementary_day",
            "day",
            postgresql_where=text("outcome = 'supplementary'"),
            sqlite_where=text("outcome = 'supplementary'"),
        ),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    sale_id: Mapped[int] = mapped_column(ForeignKey("ledger_sales.id"), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    counter_code: Mapped[str] = mapped_column(String(32))  # the matched recording's, else ""
    staff_code: Mapped[str] = mapped_column(String(7))
    product_type_id: Mapped[int] = mapped_column(Integer)
    recording_id: Mapped[int | None] = mapped_column(_BIG_ID, nullable=True, index=True)
    rule: Mapped[str] = mapped_column(String(16))  # serial | customer | "" (no match)
    outcome: Mapped[str] = mapped_column(String(16))  # see reconciliation.matching.SALE_OUTCOMES


class ReconciliationRun(Base):
    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime())
    counts_json: Mapped[str] = mapped_column(Text, default="{}")


class ReconciliationGap(Base):
    """Something a compliance officer answers for. Keyed by (day, kind, subject), so a re-run finds the
    same row again and never loses its worked status; `current` says whether the latest run still saw it."""

    __tablename__ = "reconciliation_gaps"
    __table_args__ = (
        UniqueConstraint("day", "kind", "subject"),
        Index("ix_reconciliation_gaps_day_branch", "day", "branch_id"),
        Index("ix_reconciliation_gaps_status_day", "status", "day"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))  # see reconciliation.gaps.GAP_KINDS
    subject: Mapped[str] = mapped_column(String(80))  # "sale:<serial>" | "clip:<clip id>"
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7))
    business_serial: Mapped[str] = mapped_column(String(64))
    sale_id: Mapped[int | None] = mapped_column(_BIG_ID, nullable=True)
    recording_id: Mapped[int | None] = mapped_column(_BIG_ID, nullable=True)
    status: Mapped[str] = mapped_column(String(24), default="open")
    note: Mapped[str] = mapped_column(Text, default="")
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DailyFigures(Base):
    """Per day × branch × counter × relationship manager × product type: what every report sums.

    Written by each reconciliation run of the day (its rows replaced); a 10-million-recording archive is
    reported from here, never by scanning recordings.
    """

    __tablename__ = "daily_figures"
    __table_args__ = (
        Index("ix_daily_figures_day_branch", "day", "branch_id"),
        Index("ix_daily_figures_branch_day", "branch_id", "day"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    counter_code: Mapped[str] = mapped_column(String(32))
    staff_code: Mapped[str] = mapped_column(String(7))
    product_type_id: Mapped[int] = mapped_column(Integer)
    sales: Mapped[int] = mapped_column(Integer, default=0)
    recorded: Mapped[int] = mapped_column(Integer, default=0)  # sales with a recording (late ones included)
    late: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)  # 应录未录
    not_uploaded: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_sales: Mapped[int] = mapped_column(Integer, default=0)  # sold, only a cancelled take
    recordings: Mapped[int] = mapped_column(Integer, default=0)
    unsold: Mapped[int] = mapped_column(Integer, default=0)
    interrupted: Mapped[int] = mapped_column(Integer, default=0)
    quality_failed: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_takes: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerApiNonce(Base):
    """Nonces of signed ledger uploads inside the freshness window; a replayed request hits the unique key."""

    __tablename__ = "ledger_api_nonces"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
