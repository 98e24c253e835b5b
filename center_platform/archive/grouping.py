"""Clips grouped as the archive stores them: by product type, then branch, then day.

The listing counts a period's archived clips per product type, branch and day (the day in the display
time zone); the export puts a product type's clips of a period into one zip: each clip's own evidence
package (the same one a single export gives, verifiable offline on its own) under
`<branch>/<day>/`, with an index and the SHA-256 of every package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.orm import Session

from center_platform.archive.evidence_export import EvidencePackage, build_package
from center_platform.db.models import ARCHIVED, Branch, ProductType, Recording
from storage.database import utcnow
from storage.object_store import ObjectStore

MAX_DAYS = 92  # one listing or export covers at most about a quarter
MAX_EXPORT_CLIPS = 100  # larger sets are exported a branch or a shorter period at a time


class GroupingError(ValueError):
    """A request the grouping cannot answer; the message is for the user (Chinese, then English)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GroupPeriod:
    day_from: date
    day_to: date  # inclusive
    tz: ZoneInfo
    branch_id: int | None = None  # a branch admin's own branch, or the branch asked for

    def __post_init__(self) -> None:
        if self.day_to < self.day_from:
            raise GroupingError("结束日期早于开始日期 / the last day is before the first")
        if (self.day_to - self.day_from).days >= MAX_DAYS:
            raise GroupingError(f"一次最多 {MAX_DAYS} 天 / at most {MAX_DAYS} days at a time")

    def utc_bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.day_from, time(), self.tz).astimezone(UTC)
        end = datetime.combine(self.day_to + timedelta(days=1), time(), self.tz).astimezone(UTC)
        return start, end


@dataclass(frozen=True)
class GroupDay:
    product_type: str
    product_type_name: str
    branch_code: str
    day: date
    clips: int
    bytes: int


def _local_day(db: Session, tz: ZoneInfo) -> ColumnElement[date]:
    if db.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(tz.key, Recording.started_at), Date)
    # SQLite keeps UTC text; the zone's present offset is exact for zones without summer time (China's).
    offset = datetime.now(tz).utcoffset() or timedelta()
    return func.date(Recording.started_at, f"{offset.total_seconds() / 3600:+.2f} hours")


def _in_period(q, period: GroupPeriod):  # type: ignore[no-untyped-def]
    start, end = period.utc_bounds()
    q = q.where(Recording.state == ARCHIVED, Recording.started_at >= start, Recording.started_at < end)
    return q if period.branch_id is None else q.where(Recording.branch_id == period.branch_id)


def grouped(db: Session, period: GroupPeriod, product_type: str | None = None) -> list[GroupDay]:
    day = _local_day(db, period.tz).label("day")
    q = (
        select(ProductType.code, ProductType.name, Branch.code, day, func.count(), func.sum(Recording.size))
        .join(ProductType, ProductType.id == Recording.product_type_id)
        .join(Branch, Branch.id == Recording.branch_id)
        .group_by(ProductType.code, ProductType.name, Branch.code, day)
        .order_by(ProductType.code, Branch.code, day)
    )
    if product_type:
        q = q.where(ProductType.code == product_type)
    out = []
    for code, name, branch, d, n, size in db.execute(_in_period(q, period)).tuples():
        out.append(GroupDay(code, name, branch, d if isinstance(d, date) else date.fromisoformat(str(d)), n, size or 0))
    return out


def group_clips(db: Session, period: GroupPeriod, product_type: str) -> list[Recording]:
    ptype = db.execute(select(ProductType.id).where(ProductType.code == product_type)).scalar_one_or_none()
    if ptype is None:
        raise GroupingError(f"未知产品类型 / unknown product type {product_type}", 404)
    q = (
        select(Recording)
        .join(Branch, Branch.id == Recording.branch_id)
        .where(Recording.product_type_id == ptype)
        .order_by(Branch.code, Recording.started_at, Recording.id)
        .limit(MAX_EXPORT_CLIPS + 1)
    )
    recs = list(db.execute(_in_period(q, period)).scalars())
    if not recs:
        raise GroupingError("该期间没有此类产品的录像 / no clips of this product type in the period", 404)
    if len(recs) > MAX_EXPORT_CLIPS:
        raise GroupingError(
            f"超过 {MAX_EXPORT_CLIPS} 段录像，请按网点或缩短期间分批导出 / more than {MAX_EXPORT_CLIPS} clips: "
            "export a branch or a shorter period at a time",
            413,
        )
    return recs


@dataclass(frozen=True)
class GroupPackage:
    path: Path
    download_name: str
    sha256: str
    size: int
    members: list[tuple[str, EvidencePackage]]  # (clip id, its evidence package)


def build_group_package(
    db: Session,
    store: ObjectStore,
    recs: list[Recording],
    period: GroupPeriod,
    product_type: str,
    exported_by: str,
    work_dir: Path,
    on_each: Callable[[Recording, EvidencePackage], None],
) -> GroupPackage:
    """The zip of every clip's evidence package; `on_each` is told of each (to audit it). The caller
    owns (and removes) the file."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"group-{product_type}-", suffix=".zip", dir=work_dir)
    path = Path(tmp)
    branches = {b.id: b.code for b in db.execute(select(Branch)).scalars()}
    members: list[tuple[str, EvidencePackage]] = []
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(["clip_id", "business_serial", "branch", "day", "origin", "package", "package_sha256"])
    sums = []
    stamp = utcnow().timetuple()[:6]
    try:
        with os.fdopen(fd, "w+b") as fh, zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
            for rec in recs:
                package = build_package(db, store, rec, exported_by, work_dir)
                try:
                    day = rec.started_at.astimezone(period.tz).date().isoformat()
                    name = f"{branches.get(rec.branch_id, '?')}/{day}/{package.download_name}"
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_STORED  # a zip of video: nothing to gain
                    with package.path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                        while chunk := src.read(1024 * 1024):
                            dst.write(chunk)
                finally:
                    package.path.unlink(missing_ok=True)
                members.append((rec.clip_id, package))
                writer.writerow(
                    [
                        rec.clip_id,
                        rec.business_serial,
                        branches.get(rec.branch_id),
                        day,
                        rec.origin,
                        name,
                        package.sha256,
                    ]
                )
                sums.append(f"{package.sha256}  {name}\n")
                on_each(rec, package)
            zf.writestr(zipfile.ZipInfo("INDEX.csv", date_time=stamp), "\ufeff" + index.getvalue())
            zf.writestr(zipfile.ZipInfo("SHA256SUMS", date_time=stamp), "".join(sums))
        digest = hashlib.sha256()
        with path.open("rb") as fh2:
            while chunk := fh2.read(1024 * 1024):
                digest.update(chunk)
        return GroupPackage(
            path=path,
            download_name=f"evidence-{product_type}-{period.day_from}-{period.day_to}.zip",
            sha256=digest.hexdigest(),
            size=path.stat().st_size,
            members=members,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
