"""Reconciliation and reports benchmark: a month of a 300-branch bank on PostgreSQL.

    python bench/reports.py                                  10 M recordings, a month of 1 M sales (database dr_bench_reports)
    python bench/reports.py --recordings 1000000 --sales 100000 --queries 20    a quick run
    python bench/reports.py --rebuild                        drop and build the data again

Set-up (not timed, kept between runs while --recordings and --sales match): a database of its own on
the local PostgreSQL, migrated to head; 300 branches with 20 relationship managers each (each at one
counter), 4 product types, 120 products. The recordings are generated inside PostgreSQL (INSERT …
SELECT over generate_series, as bench/search.py does; the migration's indexes dropped for the load and
built again from their own definitions) at a steady rate of --sales per 30 days up to 2026-01-31, so
the last 30 days (2026-01-01 … 2026-01-30, Asia/Shanghai) hold --sales recordings and the months before
the rest. The month's sales ledger is derived from them: 95 % under the recording's serial (0.5 % sold
45 minutes before the recording: late), 2 % under another serial (matched by customer, product and
time), 1 % of recordings without a sale (unsold) and 1 % extra sales never recorded (应录未录). The daily
figures of the months before are summed from their recordings as the nightly run would have written them.

Timed:
(a) reconciliation of the 30 days through the product's runner (one reconcile_day per day, as the CLI
    and the nightly run do); baseline: a bare `SELECT count(*)` of the month's ledger sales joined to
    recordings by serial and branch, in the same run. Target 60 s.
(b) each report through HTTP to the center app (waitress, signed in as a compliance officer), --queries
    requests each: the report page and the JSON figures (staff assessment, by branch, by day) for the
    month, for one branch (drawn at random), for one product type, and the trend over 12 months;
    baseline: a bare `SELECT count(*)` over the same daily_figures rows. Target p95 500 ms.
The last line is the worst report's p95.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from waitress import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from center_platform.app import create_app
from center_platform.config import ENV_DATABASE_URL, CenterConfig
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.reconciliation.matching import MatchSettings
from center_platform.reconciliation.runner import RunRequest, run_days
from center_platform.reports import rollups
from storage.contract.passwords import hash_password
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings

SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "dr_bench_reports"
PASSWORD = "bench-password-2026"
BRANCHES, PRODUCTS, STAFF_PER_BRANCH = 300, 120, 20
TYPE_CODES = ("FIXED", "OPEN", "STRUCT", "INSUR")
MONTH_FIRST, MONTH_LAST = date(2026, 1, 1), date(2026, 1, 30)  # 30 days ending 2026-01-31 00:00 +08:00
END = "timestamptz '2026-01-31 00:00:00+08'"


def server_conn() -> psycopg.Connection:
    return psycopg.connect(SERVER_URL, autocommit=True)


def db_url(sqlalchemy: bool = True) -> str:
    return f"postgresql{'+psycopg' if sqlalchemy else ''}://postgres@127.0.0.1:5432/{DB_NAME}"


def built_as() -> str:
    with server_conn() as c:
        row = c.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (DB_NAME,)
        ).fetchone()
    return str(row[0] or "") if row else ""


def data_key(recordings: int, sales: int) -> str:
    """What the kept database was built as: a database generated otherwise is built again."""
    return f"recordings={recordings} sales={sales} managers_per_branch={STAFF_PER_BRANCH}"


def build(recordings: int, sales: int) -> None:
    with server_conn() as c:
        c.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        c.execute(f"CREATE DATABASE {DB_NAME}")
    upgrade_to_head(db_url())
    with psycopg.connect(db_url(False), autocommit=True) as c:
        c.execute("SET maintenance_work_mem = '1GB'")
        for code, rule in zip(TYPE_CODES, ("fixed_term", "open_ended", "fixed_term", "open_ended")):
            c.execute(
                "INSERT INTO product_types (code, name, retention_rule, years_after_maturity, years_after_purchase,"
                " years_after_redemption, years_after_dispute) VALUES (%s, %s, %s, 2, 5, 2, 2)",
                (code, code + "类", rule),
            )
        c.execute(
            "INSERT INTO branches (code, name, timezone, api_secret, signing_public_key, active, created_at)"
            " SELECT 'B' || lpad(i::text, 4, '0'), '支行' || i, 'Asia/Shanghai', md5(i::text), '', true, now()"
            f" FROM generate_series(1, {BRANCHES}) i"
        )
        c.execute(
            "INSERT INTO products (code, name, product_type_id, term_days, risk_level, required_markers,"
            " disclosure_script, active) SELECT 'P' || lpad(i::text, 4, '0'), '理财' || i || '号', 1 + i % 4,"
            f" 90 + (i % 4) * 90, 'R' || (1 + i % 5), '[]', '', true FROM generate_series(1, {PRODUCTS}) i"
        )
        c.execute(
            "INSERT INTO users (username, display_name, role, password_hash, failed_logins, active)"
            " VALUES ('bench', 'bench', 'compliance_officer', %s, 0, true)",
            (hash_password(PASSWORD),),
        )
        indexes = c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('recordings', 'ledger_sales')"
            " AND indexname NOT LIKE 'pk_%%' AND indexname NOT LIKE 'uq_%%'"
        ).fetchall()
        for name, _ in indexes:
            c.execute(f"DROP INDEX {name}")
        print(f"  generating {recordings:,} recordings ...", flush=True)
        t = time.perf_counter()
        for lo in range(1, recordings + 1, 1_000_000):
            hi = min(recordings, lo + 999_999)
            c.execute(_recordings_sql(lo, hi, recordings, sales))
            print(f"    {hi:,} rows, {time.perf_counter() - t:.0f} s", flush=True)
        c.execute(
            "INSERT INTO ledger_imports (id, source, file_name, file_sha256, actor, imported_at, rows_total, rows_new,"
            " rows_same, rows_conflict, rows_bad, problems_json) VALUES (1, 'api', 'bench.csv', md5('x') || md5('y'),"
            " 'bench', now(), 0, 0, 0, 0, 0, '[]')"
        )
        c.execute(_ledger_sql(recordings, sales))
        print(f"  building {len(indexes)} indexes from the migration's definitions ...", flush=True)
        for name, definition in indexes:
            t = time.perf_counter()
            c.execute(definition)
            print(f"    {name}: {time.perf_counter() - t:.0f} s", flush=True)
        c.execute(_earlier_figures_sql())
        engine = make_engine(db_url())
        with make_session_factory(engine)() as db:  # as the nightly runs would have kept them
            rollups.rebuild(db)
            db.commit()
        engine.dispose()
        for table in ("recordings", "ledger_sales", "daily_figures", "report_days", "report_staff_months"):
            c.execute(f"VACUUM ANALYZE {table}")
        c.execute(f"COMMENT ON DATABASE {DB_NAME} IS '{data_key(recordings, sales)}'")


def _staff(i: str) -> str:
    """The relationship manager of recording i at its branch b: 20 per branch. (i / BRANCHES, not i: a branch's
    recordings share i's remainder by BRANCHES, which would give each branch a single manager.)"""
    return f"(1000000 + (b - 1) * {STAFF_PER_BRANCH} + ({i} / {BRANCHES} * 7) % {STAFF_PER_BRANCH})"


def _recordings_sql(lo: int, hi: int, total: int, sales: int) -> str:
    # Recording i starts (total - i + 1) steps before END, `sales` per 30 days; ids follow i.
    return f"""
    INSERT INTO recordings (clip_id, branch_id, counter_code, staff_code, business_serial, customer_name,
        customer_id_type, customer_id_number, card_number, product_id, product_type_id, started_at, ended_at,
        duration_ms, clip_state, size, sha256, manifest_sha256, manifest_json, object_key, version_id, state,
        retention_rule, retain_until, retention_reason, legal_hold, verified_at, chain_status, quality_verdict)
    SELECT md5('c' || i), b, 'C0' || (1 + s % 4), s::text, 'SN' || lpad(i::text, 12, '0'), '客户' || i,
        'resident_id', 'C' || lpad(i::text, 17, '0'), '622202' || lpad(i::text, 13, '0'), p, 1 + p % 4,
        t, t + interval '8 minutes', 480000 + (i % 97) * 1000, CASE WHEN i % 500 = 0 THEN 'interrupted' ELSE 'completed' END,
        150000000, md5('s' || i) || md5('t' || i), md5('m' || i) || md5('n' || i), '{{}}',
        'clips/' || b || '/' || md5('c' || i) || '.mp4', md5('v' || i), 'archived', 'fixed_term', t + interval '3 years',
        '', false, t, 'linked', CASE WHEN i % 700 = 0 THEN 'fail' END
    FROM (
        SELECT i, b, {_staff("i")} AS s, 1 + (i * 37 + i / 1000) % {PRODUCTS} AS p,
               {END} - ({total} - i + 1) * (interval '30 days' / {sales}) AS t
        FROM (SELECT i, 1 + (i * 31) % {BRANCHES} AS b FROM generate_series({lo}, {hi}) i) AS n
    ) AS g
    """


def _ledger_sql(total: int, sales: int) -> str:
    """The month's sales from its recordings (ids total - sales + 1 … total), by i % 100 (see the docstring)."""
    return f"""
    INSERT INTO ledger_sales (business_serial, branch_id, staff_code, customer_id_type, customer_id_number,
        product_id, product_type_id, amount, sold_at, sale_day, content_sha256, import_id)
    SELECT serial, branch_id, staff_code, 'resident_id', customer, product_id, product_type_id, '10000.00', sold_at,
        (sold_at AT TIME ZONE 'Asia/Shanghai')::date, md5(serial) || md5(customer), 1
    FROM (
        SELECT CASE WHEN id % 100 IN (95, 96) THEN 'LS' || id ELSE business_serial END AS serial,
            branch_id, staff_code, customer_id_number AS customer, product_id, product_type_id,
            started_at - CASE WHEN id % 200 = 0 THEN interval '45 minutes' ELSE interval '3 minutes' END AS sold_at
        FROM recordings WHERE id > {total - sales} AND id % 100 <> 97
        UNION ALL
        SELECT 'MS' || id, branch_id, staff_code, 'M' || lpad(id::text, 17, '0'), product_id, product_type_id,
            started_at - interval '1 minute'
        FROM recordings WHERE id > {total - sales} AND id % 100 = 98
    ) AS sale
    WHERE (sold_at AT TIME ZONE 'Asia/Shanghai')::date >= date '{MONTH_FIRST}'
    """


def _earlier_figures_sql() -> str:
    """What the nightly runs of the months before the benchmark month wrote."""
    return f"""
    INSERT INTO daily_figures (day, branch_id, counter_code, staff_code, product_type_id, sales, recorded, late, missed,
        not_uploaded, cancelled_sales, recordings, unsold, interrupted, quality_failed, cancelled_takes, duration_ms)
    SELECT (started_at AT TIME ZONE 'Asia/Shanghai')::date, branch_id, counter_code, staff_code, product_type_id,
        count(*) FILTER (WHERE id % 100 <> 97) + count(*) FILTER (WHERE id % 100 = 98),
        count(*) FILTER (WHERE id % 100 <> 97), count(*) FILTER (WHERE id % 200 = 0),
        count(*) FILTER (WHERE id % 100 = 98), 0, 0, count(*), count(*) FILTER (WHERE id % 100 = 97),
        count(*) FILTER (WHERE clip_state = 'interrupted'), count(*) FILTER (WHERE quality_verdict = 'fail'), 0,
        sum(duration_ms)
    FROM recordings WHERE started_at < timestamptz '{MONTH_FIRST} 00:00:00+08'
    GROUP BY 1, 2, 3, 4, 5
    """


def prewarm() -> None:
    t = time.perf_counter()
    with psycopg.connect(db_url(False), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        tables = ["recordings", "ledger_sales", "daily_figures", "reconciled_sales", "reconciliation_gaps"]
        tables += ["report_days", "report_staff_months"]
        names = [
            r[0]
            for r in c.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)"
                " AND indexname NOT LIKE 'ix_recordings_customer_name%%'",
                (tables,),
            ).fetchall()
        ]
        for name in [*tables, *names]:
            c.execute("SELECT pg_prewarm(%s, 'read')", (name,))
    print(f"  tables and {len(names)} indexes read into the OS cache in {time.perf_counter() - t:.0f} s", flush=True)


def bare_seconds(sql: str, params: tuple[object, ...] = ()) -> tuple[float, int]:
    with psycopg.connect(db_url(False)) as c:  # the connection is not timed: the app keeps a pool
        c.execute("SELECT 1")
        t = time.perf_counter()
        n = int(c.execute(sql, params).fetchone()[0])  # type: ignore[index]
        return time.perf_counter() - t, n


def reconcile_month(sessions: object) -> float:
    days = tuple(MONTH_FIRST + timedelta(days=n) for n in range((MONTH_LAST - MONTH_FIRST).days + 1))
    join = (
        "SELECT count(*) FROM ledger_sales s JOIN recordings r"
        " ON r.business_serial = s.business_serial AND r.branch_id = s.branch_id WHERE s.sale_day BETWEEN %s AND %s"
    )
    bare, matched = bare_seconds(join, (MONTH_FIRST, MONTH_LAST))
    _, n_sales = bare_seconds(
        "SELECT count(*) FROM ledger_sales WHERE sale_day BETWEEN %s AND %s", days[:1] + days[-1:]
    )
    _, n_recs = bare_seconds(
        "SELECT count(*) FROM recordings WHERE started_at >= %s::timestamptz AND started_at < %s::timestamptz",
        (f"{MONTH_FIRST} 00:00+08", f"{MONTH_LAST + timedelta(days=1)} 00:00+08"),
    )
    print(f"reconciliation of {len(days)} days: {n_sales:,} sales against {n_recs:,} recordings", flush=True)
    print(f"  bare count of sales joined to recordings by serial: {bare:.2f} s ({matched:,} rows)")
    t = time.perf_counter()
    runs = run_days(sessions, RunRequest(days, "bench"), MatchSettings())  # type: ignore[arg-type]
    total = time.perf_counter() - t
    totals = {k: sum(getattr(r.counts, k) for r in runs) for k in ("sales", "recorded", "late", "missed", "unsold")}
    slowest = max(runs, key=lambda r: r.seconds)
    print(f"  reconciled in {total:.1f} s (slowest day {slowest.day}: {slowest.seconds:.2f} s); {totals}")
    print(f"  reconciliation / bare count: {total / bare:.1f}")
    return total


class Client:
    """A signed-in compliance officer's HTTP connection (keep-alive, like a browser's)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = json.dumps({"username": "bench", "password": PASSWORD})
        self.conn.request("POST", "/api/session", body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"sign-in failed: {r.status}")
        self.cookie = r.getheader("Set-Cookie", "").split(";")[0]

    def get(self, path: str) -> tuple[float, int]:
        t = time.perf_counter()
        self.conn.request("GET", path, headers={"Cookie": self.cookie})
        r = self.conn.getresponse()
        body = r.read()
        elapsed = (time.perf_counter() - t) * 1000
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status} {body[:200]!r}")
        return elapsed, len(body)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def measure_reports(port: int, queries: int) -> float:
    client = Client(port)
    rng = random.Random(7)
    month = f"day_from={MONTH_FIRST}&day_to={MONTH_LAST}"
    year_from = MONTH_LAST - timedelta(days=364)
    count = "SELECT count(*) FROM daily_figures f JOIN branches b ON b.id = f.branch_id WHERE f.day BETWEEN %s AND %s"
    cases: list[tuple[str, str, str, str]] = []  # name, path (with {b} for a branch), bare SQL extra, bare param
    for kind, prefix in (("page", "/reports?"), ("json", "/api/reports/assessment?")):
        cases += [
            (f"{kind} month, all branches", f"{prefix}{month}", "", ""),
            (f"{kind} month, one branch", f"{prefix}{month}&branch_code={{b}}", " AND b.code = %s", "{b}"),
            (f"{kind} month, product type", f"{prefix}{month}&product_type=STRUCT", " AND f.product_type_id = 3", ""),
        ]
    cases.append(("json trend, 12 months", f"/api/reports/assessment?day_from={year_from}&day_to={MONTH_LAST}", "", ""))
    for _ in range(5):  # warm the pools and the template cache, as a running center is
        client.get(f"/reports?{month}&branch_code=B0001")
    worst = 0.0
    for name, path, extra, param in cases:
        times, bare, size = [], [], 0
        first = year_from if "12 months" in name else MONTH_FIRST
        for _ in range(queries):
            b = f"B{rng.randint(1, BRANCHES):04d}"
            elapsed, size = client.get(path.format(b=b))
            times.append(elapsed)
            params: tuple[object, ...] = (first, MONTH_LAST, *([param.format(b=b)] if param else []))
            bare.append(bare_seconds(count + extra, params)[0] * 1000)
        worst = max(worst, p95(times))
        print(
            f"{name:30s} p50 {statistics.median(times):7.1f} ms  p95 {p95(times):7.1f} ms  "
            f"bare count p95 {p95(bare):6.1f} ms  ratio {p95(times) / p95(bare):6.1f}  ({size / 1024:.0f} KiB)",
            flush=True,
        )
    client.conn.close()
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=10_000_000)
    parser.add_argument("--sales", type=int, default=1_000_000, help="sales (and recordings) in the month")
    parser.add_argument("--queries", type=int, default=40, help="requests per report")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--skip-reconciliation", action="store_true", help="time the reports only")
    args = parser.parse_args()
    if args.sales > args.recordings:
        parser.error("--sales may not exceed --recordings")
    wanted = data_key(args.recordings, args.sales)
    have = built_as()
    if args.rebuild or have != wanted:
        print(f"building the data ({have or 'nothing'} there, {wanted} wanted)", flush=True)
        t = time.perf_counter()
        build(args.recordings, args.sales)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)
    else:
        upgrade_to_head(db_url())
    prewarm()
    os.environ[ENV_DATABASE_URL] = db_url()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        seaweed = SeaweedServer(SeaweedSettings(data_dir=Path(tmp) / "seaweed", bucket="evidence-bench"))
        endpoint = seaweed.start()
        try:
            config = CenterConfig.model_validate(
                {
                    "server": {"data_dir": str(Path(tmp) / "center")},
                    "reconciliation": {"enabled": False},
                    "expiry": {"enabled": False},
                    "scrub": {"enabled": False},
                }
            )
            app = create_app(config, ObjectStore(endpoint))
            if not args.skip_reconciliation:
                seconds = reconcile_month(app.extensions["center"].sessions)
                print(f"reconciliation_s: {seconds:.1f}", flush=True)
            server = create_server(app, host="127.0.0.1", port=0, threads=8)
            threading.Thread(target=server.run, daemon=True).start()
            print(f"{args.recordings:,} recordings, {args.queries} requests per report, signed in:", flush=True)
            worst = measure_reports(server.effective_port, args.queries)
            server.close()
            app.extensions["center"].engine.dispose()
        finally:
            seaweed.stop()
    print(f"p95_ms: {worst:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
