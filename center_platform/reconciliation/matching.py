"""One day's reconciliation, set-based: every step is one INSERT … SELECT (or UPDATE) over indexed keys,
so a month of a 300-branch bank is a few statements per day, never a Python loop over rows.

Matching rules, in order:
1. by serial: the sale's business serial and branch name a recording (the earliest, if re-recorded);
2. by customer: an unmatched sale and a recording not matched to any sale share branch, customer ID and
   product, and the recording started within `match_window` of the sale's time (the earliest such);
   supplementary recordings (recorded after the sale) take part in neither;
2b. by supplementary recording: an unmatched sale whose serial and branch name a supplementary
   recording not rejected, whose entered time of sale is within `SUPPLEMENTARY_SALE_SLACK` of the
   ledger's, is `supplementary`: covered, but neither recorded nor recorded on time;
3. no recording: the sale is `not_uploaded` if its serial is in the branch's upload backlog (latest
   heartbeat), `cancelled` if its only take was cancelled at the counter, else `missed` (应录未录).
A matched recording that started more than `late_after` after the sale's time makes the sale `late`.

The day is the branch's own calendar day: recordings are taken from each time zone's window of it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement as _Col
from sqlalchemy.sql.expression import ColumnExpressionArgument

from center_platform.audit import trail as audit
from center_platform.db.models import Branch, Product, Recording
from center_platform.db.reconciliation_models import (
    CancelledTake,
    DailyFigures,
    LedgerSale,
    QueuedTake,
    ReconciledSale,
    ReconciliationRun,
)
from center_platform.db.supplementary_models import REJECTED, SupplementaryApproval
from center_platform.reconciliation import gaps
from center_platform.reports import rollups
from storage.database import utcnow

RECORDED = "recorded"
SUPPLEMENTARY = "supplementary"  # covered only by a recording made after the sale
SALE_OUTCOMES = (RECORDED, gaps.LATE, gaps.MISSED, gaps.NOT_UPLOADED, gaps.CANCELLED, SUPPLEMENTARY)
# The time of sale on a supplementary recording is entered by hand, from the receipt or from memory: the
# serial says which sale it is, the time only has to agree with the ledger's to this much.
SUPPLEMENTARY_SALE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class MatchSettings:
    match_window: timedelta = timedelta(minutes=30)
    late_after: timedelta = timedelta(minutes=30)


@dataclass(frozen=True)
class DayCounts:
    sales: int = 0
    recorded: int = 0
    late: int = 0
    missed: int = 0
    not_uploaded: int = 0
    cancelled_sales: int = 0
    recordings: int = 0
    unsold: int = 0
    interrupted: int = 0
    quality_failed: int = 0
    cancelled_takes: int = 0


@dataclass(frozen=True)
class RunSummary:
    day: date
    run_id: int
    counts: DayCounts
    seconds: float


def _minutes_after(
    later: ColumnExpressionArgument[datetime], earlier: ColumnExpressionArgument[datetime], minutes: float, dialect: str
) -> _Col[bool]:
    """later > earlier + minutes, in SQL each engine understands (SQLite keeps times as text)."""
    if dialect == "postgresql":
        return later > earlier + func.make_interval(0, 0, 0, 0, 0, 0, literal(minutes * 60.0))
    return func.julianday(later) > func.julianday(earlier) + literal(minutes / 1440.0)


def _shift(value: ColumnExpressionArgument[datetime], minutes: float, dialect: str) -> _Col[datetime]:
    if dialect == "postgresql":
        return value + func.make_interval(0, 0, 0, 0, 0, 0, literal(minutes * 60.0))
    return func.strftime("%Y-%m-%d %H:%M:%f", value, f"{minutes:+.3f} minutes")


def day_windows(db: Session, day: date) -> list[tuple[list[int], datetime, datetime]]:
    """(branch ids, start, end) in UTC of `day` for each time zone the branches use."""
    by_tz: dict[str, list[int]] = {}
    for branch_id, tz in db.execute(select(Branch.id, Branch.timezone)).tuples():
        by_tz.setdefault(tz, []).append(branch_id)
    out = []
    for tz, ids in sorted(by_tz.items()):
        zone = ZoneInfo(tz)
        start = datetime.combine(day, time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        out.append((sorted(ids), start, end))
    return out


def recordings_of_day(db: Session, day: date) -> ColumnElement[bool]:
    parts = [
        and_(Recording.branch_id.in_(ids), Recording.started_at >= start, Recording.started_at < end)
        for ids, start, end in day_windows(db, day)
    ]
    return or_(*parts) if parts else false()


def reconcile_day(db: Session, day: date, settings: MatchSettings, actor: str) -> RunSummary:
    """Replaces the day's reconciled sales and figures, refreshes its gaps; one transaction, committed."""
    started = utcnow()
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        # The statements below touch a day's rows through indexes, but their estimated cost (correlated
        # look-ups per sale) passes jit_above_cost: compiling them took longer than running them.
        db.execute(text("SET LOCAL jit = off"))
    late_min = settings.late_after.total_seconds() / 60
    window_min = settings.match_window.total_seconds() / 60
    db.execute(delete(ReconciledSale).where(ReconciledSale.day == day))
    db.execute(delete(DailyFigures).where(DailyFigures.day == day))
    cols = [
        "day",
        "sale_id",
        "branch_id",
        "counter_code",
        "staff_code",
        "product_type_id",
        "recording_id",
        "rule",
        "outcome",
    ]
    s, r = LedgerSale, Recording
    # 1. By serial: the earliest recording of the serial at the sale's branch. The day's pairs are found
    # first (grouped, so the planner cannot fold them into a join against every recording), then joined
    # back by primary key.
    r2 = aliased(Recording)
    first_of_serial = (
        select(s.id.label("sale_id"), func.min(r2.id).label("recording_id"))
        .join(r2, and_(r2.business_serial == s.business_serial, r2.branch_id == s.branch_id))
        .where(s.sale_day == day, r2.origin != SUPPLEMENTARY)
        .group_by(s.id)
        .subquery()
    )
    late = _minutes_after(r.started_at, s.sold_at, late_min, dialect)
    db.execute(
        insert(ReconciledSale).from_select(
            cols,
            select(
                literal(day),
                s.id,
                s.branch_id,
                r.counter_code,
                s.staff_code,
                s.product_type_id,
                r.id,
                literal("serial"),
                case((late, literal(gaps.LATE)), else_=literal(RECORDED)),
            )
            .select_from(first_of_serial)
            .join(s, s.id == first_of_serial.c.sale_id)
            .join(r, r.id == first_of_serial.c.recording_id),
        )
    )
    # 2. By customer, product and time, among what is still unmatched.
    taken = aliased(ReconciledSale)
    # A sale's reconciled row carries its sale day: looking only at the day's rows keeps the check on the
    # day's index instead of every reconciled sale.
    sale_done = exists().where(taken.day == day, taken.sale_id == s.id)
    rec_taken = aliased(ReconciledSale)
    rec_done = exists().where(rec_taken.recording_id == r.id)
    ranked = (
        select(
            s.id.label("sale_id"),
            s.branch_id,
            s.staff_code,
            s.product_type_id,
            s.sold_at,
            r.id.label("recording_id"),
            r.counter_code,
            r.started_at,
            func.row_number().over(partition_by=s.id, order_by=(r.started_at, r.id)).label("by_sale"),
        )
        .join(
            r,
            and_(
                r.branch_id == s.branch_id,
                r.customer_id_number == s.customer_id_number,
                r.product_id == s.product_id,
                r.started_at >= _shift(s.sold_at, -window_min, dialect),
                r.started_at <= _shift(s.sold_at, window_min, dialect),
                r.origin != SUPPLEMENTARY,
            ),
        )
        .where(s.sale_day == day, ~sale_done, ~rec_done)
        .subquery()
    )
    # A recording two sales could claim goes to the earlier sale; the other stays unmatched.
    per_rec = (
        select(
            ranked,
            func.row_number()
            .over(partition_by=ranked.c.recording_id, order_by=(ranked.c.sold_at, ranked.c.sale_id))
            .label("by_rec"),
        )
        .where(ranked.c.by_sale == 1)
        .subquery()
    )
    late2 = _minutes_after(per_rec.c.started_at, per_rec.c.sold_at, late_min, dialect)
    db.execute(
        insert(ReconciledSale).from_select(
            cols,
            select(
                literal(day),
                per_rec.c.sale_id,
                per_rec.c.branch_id,
                per_rec.c.counter_code,
                per_rec.c.staff_code,
                per_rec.c.product_type_id,
                per_rec.c.recording_id,
                literal("customer"),
                case((late2, literal(gaps.LATE)), else_=literal(RECORDED)),
            ).where(per_rec.c.by_rec == 1),
        )
    )
    _match_supplementary(db, day, cols, dialect)
    # 3. No recording: still in the branch's backlog, only cancelled, or missed.
    queued = select(QueuedTake.counter_code).where(
        QueuedTake.business_serial == s.business_serial, QueuedTake.branch_id == s.branch_id
    )
    cancelled = select(CancelledTake.counter_code).where(
        CancelledTake.business_serial == s.business_serial, CancelledTake.branch_id == s.branch_id
    )
    sale_done2 = exists().where(ReconciledSale.day == day, ReconciledSale.sale_id == s.id)
    db.execute(
        insert(ReconciledSale).from_select(
            cols,
            select(
                literal(day),
                s.id,
                s.branch_id,
                func.coalesce(queued.limit(1).scalar_subquery(), cancelled.limit(1).scalar_subquery(), literal("")),
                s.staff_code,
                s.product_type_id,
                cast(null(), BigInteger),
                literal(""),
                case(
                    (queued.exists(), literal(gaps.NOT_UPLOADED)),
                    (cancelled.exists(), literal(gaps.CANCELLED)),
                    else_=literal(gaps.MISSED),
                ),
            ).where(s.sale_day == day, ~sale_done2),
        )
    )
    of_day = recordings_of_day(db, day)
    _write_figures(db, day, of_day)
    rollups.refresh_day(db, day)
    gaps.refresh_gaps(db, day, of_day, started)
    counts = day_counts(db, day)
    finished = utcnow()
    run = ReconciliationRun(
        day=day, actor=actor, started_at=started, finished_at=finished, counts_json=json.dumps(asdict(counts))
    )
    db.add(run)
    db.flush()
    detail = {"run_id": run.id, **asdict(counts), SUPPLEMENTARY: supplementary_sales(db, day)}
    audit.append(db, actor, "reconciliation.run", day.isoformat(), detail)
    db.commit()
    return RunSummary(day, run.id, counts, (finished - started).total_seconds())


def _match_supplementary(db: Session, day: date, cols: list[str], dialect: str) -> None:
    """Rule 2b: the day's sales still unmatched, covered by the earliest supplementary recording of their
    serial whose time of sale agrees with the ledger's and that no one rejected."""
    s, r, a = LedgerSale, Recording, SupplementaryApproval
    slack_min = SUPPLEMENTARY_SALE_SLACK.total_seconds() / 60
    later = aliased(SupplementaryApproval)
    # Rejected: the clip's latest decision says so (a later approval by compliance overrules the branch).
    rejected = (
        exists()
        .where(a.clip_id == r.clip_id, a.decision == REJECTED)
        .where(~exists().where(later.clip_id == a.clip_id, later.id > a.id))
    )
    sale_done = exists().where(ReconciledSale.day == day, ReconciledSale.sale_id == s.id)
    first = (
        select(s.id.label("sale_id"), func.min(r.id).label("recording_id"))
        .join(r, and_(r.business_serial == s.business_serial, r.branch_id == s.branch_id))
        .where(
            s.sale_day == day,
            r.origin == SUPPLEMENTARY,
            r.sale_at.is_not(None),
            r.sale_at >= _shift(s.sold_at, -slack_min, dialect),
            r.sale_at <= _shift(s.sold_at, slack_min, dialect),
            ~rejected,
            ~sale_done,
        )
        .group_by(s.id)
        .subquery()
    )
    db.execute(
        insert(ReconciledSale).from_select(
            cols,
            select(
                literal(day),
                s.id,
                s.branch_id,
                r.counter_code,
                s.staff_code,
                s.product_type_id,
                r.id,
                literal(SUPPLEMENTARY),
                literal(SUPPLEMENTARY),
            )
            .select_from(first)
            .join(s, s.id == first.c.sale_id)
            .join(r, r.id == first.c.recording_id),
        )
    )


def supplementary_sales(db: Session, day: date) -> int:
    """Sales of the day covered only by a supplementary recording (not in DayCounts' figures)."""
    q = select(func.count()).where(ReconciledSale.day == day, ReconciledSale.outcome == SUPPLEMENTARY)
    return int(db.execute(q).scalar_one())


def _one(cond: _Col[bool]) -> _Col[int]:
    return case((cond, 1), else_=0)


def _write_figures(db: Session, day: date, of_day: ColumnElement[bool]) -> None:
    rs, r, c = ReconciledSale, Recording, CancelledTake
    zero = literal(0)
    matched = exists().where(rs.recording_id == r.id)
    sale_part = select(
        rs.branch_id.label("branch_id"),
        rs.counter_code.label("counter_code"),
        rs.staff_code.label("staff_code"),
        rs.product_type_id.label("product_type_id"),
        literal(1).label("sales"),
        _one(rs.outcome.in_((RECORDED, gaps.LATE))).label("recorded"),
        _one(rs.outcome == gaps.LATE).label("late"),
        _one(rs.outcome == gaps.MISSED).label("missed"),
        _one(rs.outcome == gaps.NOT_UPLOADED).label("not_uploaded"),
        _one(rs.outcome == gaps.CANCELLED).label("cancelled_sales"),
        zero.label("recordings"),
        zero.label("unsold"),
        zero.label("interrupted"),
        zero.label("quality_failed"),
        zero.label("cancelled_takes"),
        zero.label("duration_ms"),
    ).where(rs.day == day)
    rec_part = select(
        r.branch_id,
        r.counter_code,
        r.staff_code,
        r.product_type_id,
        zero,
        zero,
        zero,
        zero,
        zero,
        zero,
        literal(1),
        _one(~matched),
        _one(r.clip_state == "interrupted"),
        _one(r.quality_verdict == "fail"),
        zero,
        r.duration_ms,
    ).where(of_day)
    cancel_part = (
        select(
            c.branch_id,
            c.counter_code,
            c.staff_code,
            func.coalesce(Product.product_type_id, 0),
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            literal(1),
            zero,
        )
        .outerjoin(Product, Product.code == c.product_code)
        .where(c.take_day == day)
    )
    u = union_all(sale_part, rec_part, cancel_part).subquery()
    measures = [
        "sales",
        "recorded",
        "late",
        "missed",
        "not_uploaded",
        "cancelled_sales",
        "recordings",
        "unsold",
        "interrupted",
        "quality_failed",
        "cancelled_takes",
        "duration_ms",
    ]
    keys = [u.c.branch_id, u.c.counter_code, u.c.staff_code, u.c.product_type_id]
    db.execute(
        insert(DailyFigures).from_select(
            ["day", "branch_id", "counter_code", "staff_code", "product_type_id", *measures],
            select(literal(day), *keys, *(func.sum(u.c[m]) for m in measures)).group_by(*keys),
        )
    )


def day_counts(db: Session, day: date) -> DayCounts:
    f = DailyFigures
    names = [n for n in DayCounts.__dataclass_fields__]
    row = db.execute(select(*(func.coalesce(func.sum(getattr(f, n)), 0) for n in names)).where(f.day == day)).one()
    return DayCounts(**{n: int(v) for n, v in zip(names, row)})
