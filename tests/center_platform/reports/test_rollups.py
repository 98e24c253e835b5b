"""The report figures read through the rollups are the figures summed straight from `daily_figures`, on SQLite
and PostgreSQL: for any period (within a month, across month ends, most of a month, a year), any filter, after
a day is run again with other data, before a run has summed its months again and after, after the rollups are
rebuilt and after the migration's backfill."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import Select, delete, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from center_platform.db.engine import alembic_config, make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, Product, ProductType, Recording
from center_platform.db.reconciliation_models import CancelledTake, DailyFigures, LedgerImport, LedgerSale
from center_platform.db.report_models import BankDayFigures, StaffMonthFigures
from center_platform.reconciliation.matching import MatchSettings, reconcile_day
from center_platform.reconciliation.runner import RunRequest, run_days
from center_platform.reports import rollups
from center_platform.reports.figures import MEASURES, Figures, ReportFilters, assessment, trend

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAYS = [date(2026, 1, 27) + timedelta(days=n) for n in range(10)] + [date(2026, 3, 1), date(2026, 3, 31)]
PERIODS = [
    (date(2026, 1, 28), date(2026, 1, 28)),
    (date(2026, 1, 1), date(2026, 1, 31)),
    (date(2026, 1, 2), date(2026, 1, 31)),  # most of a month: the month less a day
    (date(2026, 1, 1), date(2026, 1, 30)),
    (date(2026, 1, 29), date(2026, 2, 2)),
    (date(2026, 1, 10), date(2026, 2, 27)),  # most of two months
    (date(2026, 2, 1), date(2026, 3, 31)),
    (date(2025, 4, 1), date(2026, 3, 31)),  # a year
]
STAFF = ("1000001", "1000002", "1000003")


def _direct(q: Select, f: ReportFilters) -> Select:
    q = q.where(DailyFigures.day >= f.day_from, DailyFigures.day <= f.day_to)
    if f.branch_id is not None:
        q = q.where(DailyFigures.branch_id == f.branch_id)
    if f.product_type_id is not None:
        q = q.where(DailyFigures.product_type_id == f.product_type_id)
    return q


def direct_assessment(db: Session, f: ReportFilters) -> list[Figures]:
    """The staff assessment as it was summed before the rollups: every daily_figures row of the period."""
    F = DailyFigures
    sums = [func.coalesce(func.sum(getattr(F, m)), 0) for m in MEASURES]
    q = _direct(select(Branch.code, F.staff_code, *sums).join(Branch, Branch.id == F.branch_id), f)
    q = q.group_by(Branch.code, F.staff_code).order_by(Branch.code, F.staff_code)
    return [Figures(r[1], r[0], *(int(v) for v in r[2:])) for r in db.execute(q)]


def direct_trend(db: Session, f: ReportFilters) -> list[Figures]:
    F = DailyFigures
    sums = [func.coalesce(func.sum(getattr(F, m)), 0) for m in MEASURES]
    q = _direct(select(F.day, *sums), f).group_by(F.day).order_by(F.day)
    return [Figures(r[0].isoformat(), "", *(int(v) for v in r[1:])) for r in db.execute(q)]


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _catalogue(db: Session) -> None:
    for n in (1, 2):
        db.add(ProductType(code=f"T{n}", name=f"类型{n}", retention_rule="fixed_term"))
    for code in ("B1", "B2", "B3"):
        db.add(Branch(code=code, name=code, api_secret="x", timezone="Asia/Shanghai"))
    db.flush()
    for n in range(4):
        db.add(Product(code=f"P{n}", name=f"产品{n}", product_type_id=1 + n % 2, risk_level="R2"))
    db.add(
        LedgerImport(
            id=1,
            source="api",
            file_name="l.csv",
            file_sha256="0" * 64,
            actor="t",
            rows_total=0,
            rows_new=0,
            rows_same=0,
            rows_conflict=0,
            rows_bad=0,
        )
    )
    db.flush()


def _recording(db: Session, serial: str, branch: int, staff: str, product: int, at: datetime) -> None:
    db.add(
        Recording(
            clip_id=serial.ljust(32, "0")[:32],
            branch_id=branch,
            counter_code=f"C0{1 + int(staff) % 2}",
            staff_code=staff,
            business_serial=serial,
            customer_name="客户",
            customer_id_type="resident_id",
            customer_id_number="C" + serial,
            card_number="6222020000000000000",
            product_id=product,
            product_type_id=1 + (product - 1) % 2,
            started_at=at,
            ended_at=at + timedelta(minutes=8),
            duration_ms=480_000 + len(serial),
            clip_state="interrupted" if serial.endswith("7") else "completed",
            size=1,
            sha256="0" * 64,
            manifest_sha256="1" * 64,
            manifest_json="{}",
            object_key="k/" + serial,
            version_id="v",
            state="archived",
            retention_rule="fixed_term",
            retain_until=at + timedelta(days=999),
        )
    )


def _day_of_business(db: Session, rng: random.Random, day: date) -> None:
    """Sales, recordings (most by serial, some unsold, some late) and cancelled takes of one day."""
    for n in range(rng.randint(8, 16)):
        serial = f"S{day:%m%d}{n:03d}"
        branch, staff, product = rng.randint(1, 3), rng.choice(STAFF), rng.randint(1, 4)
        at = datetime.combine(day, time(9 + n % 8, 7 * n % 60), SHANGHAI).astimezone(UTC)
        roll = rng.random()
        if roll < 0.85:
            sold = SaleRow(serial, branch, staff, product, at - timedelta(minutes=45 if roll < 0.1 else 3), day)
            db.add(sold.model())
        if roll > 0.15:
            _recording(db, serial, branch, staff, product, at)
        if roll > 0.95:
            db.add(
                CancelledTake(
                    clip_id=("x" + serial).ljust(32, "0"),
                    branch_id=branch,
                    counter_code="C01",
                    staff_code=staff,
                    business_serial=serial,
                    product_code=f"P{product - 1}",
                    reason="客户改期",
                    cancelled_at=at,
                    take_day=day,
                )
            )


class SaleRow:
    def __init__(self, serial: str, branch: int, staff: str, product: int, sold_at: datetime, day: date) -> None:
        self.args = (serial, branch, staff, product, sold_at, day)

    def model(self) -> LedgerSale:
        serial, branch, staff, product, sold_at, day = self.args
        return LedgerSale(
            business_serial=serial,
            branch_id=branch,
            staff_code=staff,
            customer_id_type="resident_id",
            customer_id_number="C" + serial,
            product_id=product,
            product_type_id=1 + (product - 1) % 2,
            amount="1.00",
            sold_at=sold_at,
            sale_day=day,
            content_sha256="0" * 64,
            import_id=1,
        )


def _filters() -> list[tuple[int | None, int | None]]:
    return [(None, None), (2, None), (None, 1), (3, 2)]


def assert_rollups_match(sessions: sessionmaker[Session]) -> None:
    with sessions() as db:
        for day_from, day_to in PERIODS:
            for branch, ptype in _filters():
                f = ReportFilters(day_from, day_to, branch, ptype)
                assert assessment(db, f) == direct_assessment(db, f), f
                assert trend(db, f) == direct_trend(db, f), f


def _reconcile(sessions: sessionmaker[Session], days: list[date]) -> None:
    for day in days:
        with sessions() as db:
            reconcile_day(db, day, MatchSettings(), "test")


def test_reports_from_rollups_equal_the_daily_figures_summed(sessions: sessionmaker[Session]) -> None:
    rng = random.Random(18)
    with sessions() as db:
        _catalogue(db)
        for day in DAYS:
            _day_of_business(db, rng, day)
        # A manager whose only figure of January is one unsold recording on its last day.
        _recording(db, "LONE1", 1, "1000099", 1, datetime(2026, 1, 31, 3, 0, tzinfo=UTC))
        db.commit()
    _reconcile(sessions, DAYS)
    with sessions() as db:  # days reconciled, their months not yet summed again: read from their days
        assert rollups.stale_months(db) == {date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)}
    assert_rollups_match(sessions)
    assert rollups.refresh_stale_months(sessions) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert_rollups_match(sessions)
    january = ReportFilters(date(2026, 1, 2), date(2026, 1, 31))
    with sessions() as db:
        assert db.execute(select(func.count()).select_from(StaffMonthFigures)).scalar_one() > 0
        assert "1000099" in {x.key for x in assessment(db, january)}

    # The days run again after the catalogue changed: the manager is gone, another appears, sales move.
    with sessions() as db:
        db.execute(delete(Recording).where(Recording.business_serial == "LONE1"))
        db.execute(text("UPDATE recordings SET staff_code = '1000005' WHERE business_serial LIKE 'S0131%'"))
        db.commit()
    run_days(sessions, RunRequest((date(2026, 1, 31), date(2026, 1, 31), date(2026, 2, 1)), "test"), MatchSettings())
    with sessions() as db:
        assert rollups.stale_months(db) == set()  # the run summed its months again
        assert "1000099" not in {x.key for x in assessment(db, january)}
    assert_rollups_match(sessions)
    with sessions() as db:
        before = _rollup_rows(db)
        rollups.rebuild(db)
        db.commit()
        assert _rollup_rows(db) == before  # what the runs kept up is what summing everything again gives


def _rollup_rows(db: Session) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    m, d = StaffMonthFigures, BankDayFigures
    months = select(m.month, m.branch_id, m.staff_code, m.product_type_id, *(getattr(m, x) for x in MEASURES))
    days = select(d.day, d.product_type_id, *(getattr(d, x) for x in MEASURES))
    return {tuple(r) for r in db.execute(months)}, {tuple(r) for r in db.execute(days)}


def test_migration_fills_rollups_from_figures_already_there(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0010")
    engine = make_engine(db_url)
    rng = random.Random(11)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO branches (id, code, name, timezone, api_secret, active, created_at)"
                " VALUES (1, 'B1', 'B1', 'Asia/Shanghai', 'x', true, '2026-01-01'),"
                " (2, 'B2', 'B2', 'Asia/Shanghai', 'x', true, '2026-01-01')"
            )
        )
        rows = [
            {
                "day": day,
                "branch_id": 1 + n % 2,
                "counter_code": "C01",
                "staff_code": staff,
                "product_type_id": 1 + n % 3,
                **{m: rng.randint(0, 9) for m in MEASURES},
                "recordings": 1 + n,
            }
            for n, (day, staff) in enumerate((d, s) for d in DAYS for s in STAFF)
        ]
        conn.execute(insert(DailyFigures), rows)
    engine.dispose()
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    assert_rollups_match(make_session_factory(engine))
    engine.dispose()
