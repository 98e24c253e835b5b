"""Catalogue search: typed filters in, masked rows out.

Branch, product and product type are resolved to ids first, so the recordings table is filtered on its
own indexed columns. The total is counted up to COUNT_CAP: past that the page says "more than", which
keeps a broad search over millions of rows as fast as a narrow one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, exists, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

from center_platform.archive.quality_labels import QualityFilter
from center_platform.db.models import ALTERED, ARCHIVED, DELETED, MISSING, Branch, Product, ProductType, Recording
from center_platform.db.quality_models import QualityFinding
from storage.contract.masking import mask_card_number, mask_id_number

MAX_PAGE = 200
COUNT_CAP = 1000
MIN_CONTAINS = 2  # characters a "contains" name search needs
STATES = (ARCHIVED, DELETED, MISSING, ALTERED)
NameMatch = Literal["prefix", "contains"]


@dataclass(frozen=True)
class SearchFilters:
    started_from: datetime | None = None
    started_to: datetime | None = None
    business_serial: str | None = None
    customer_name: str | None = None
    name_match: NameMatch = "prefix"
    id_number: str | None = None
    card_number: str | None = None
    product: str | None = None  # product code, or the start of its name
    product_type: str | None = None  # code
    branch_code: str | None = None
    staff_code: str | None = None  # the relationship manager
    state: str | None = None
    quality: QualityFilter | None = None  # the quality check's verdict, or not yet checked
    finding: str | None = None  # a kind of quality finding (storage.quality FindingCode) the clip has
    origin: str | None = None  # how the clip came about (ORIGIN_LABELS): supplementary, imported, ...
    restrict_branch_id: int | None = None  # set from the user's role, never from the request


@dataclass(frozen=True)
class RecordingRow:
    recording_id: int
    clip_id: str
    business_serial: str
    branch_code: str
    counter_code: str
    staff_code: str
    customer_name: str
    id_number: str
    card_number: str
    product_code: str
    product_name: str
    product_type: str
    started_at: datetime
    duration_ms: int
    size: int
    sha256: str
    state: str
    clip_state: str
    retain_until: datetime
    legal_hold: bool
    # How the clip came about (recorded | re_recorded | supplementary | imported): an imported clip is
    # never shown as recorded by the appliance.
    origin: str = "recorded"
    quality_verdict: str | None = None  # pass | fail; None: not yet checked


# The badge each origin gets in lists and on the player.
ORIGIN_LABELS: dict[str, str] = {
    "recorded": "现场录制 / recorded",
    "re_recorded": "重录 / re-recorded",
    "supplementary": "事后补录 / supplementary",
    "imported": "外部导入（非本机录制） / imported, not recorded by the appliance",
}


@dataclass(frozen=True)
class SearchPage:
    rows: list[RecordingRow]
    total: int
    total_is_lower_bound: bool  # True: at least `total` match (counting stopped at COUNT_CAP)
    offset: int
    limit: int


def _name_pieces(text: str) -> list[str]:
    """Every two-character piece of the text: what dr_name_grams (migration 0004) indexes, besides single characters."""
    return sorted({text[i : i + 2] for i in range(len(text) - 1)})


def _ids(session: Session, q: Select[tuple[int]]) -> list[int]:
    return list(session.execute(q).scalars())


def _filtered(session: Session, f: SearchFilters) -> Select[tuple[int]] | None:
    """Recording ids matching every filter, or None when a named branch, product or type does not exist."""
    q = select(Recording.id)
    if f.started_from:
        q = q.where(Recording.started_at >= f.started_from)
    if f.started_to:
        q = q.where(Recording.started_at < f.started_to)
    if f.business_serial:
        q = q.where(Recording.business_serial == f.business_serial)
    if f.customer_name:
        if f.name_match == "contains":
            exact_by_pieces = False
            if session.get_bind().dialect.name == "postgresql":
                pieces = literal(_name_pieces(f.customer_name), ARRAY(Text))
                q = q.where(func.dr_name_grams(Recording.customer_name).op("@>")(pieces))
                # Two characters are matched exactly by their piece; adding the LIKE would only make
                # the planner multiply two selectivities and expect a handful of rows.
                exact_by_pieces = len(f.customer_name) == 2
            if not exact_by_pieces:
                q = q.where(Recording.customer_name.contains(f.customer_name, autoescape=True))
        else:
            q = q.where(Recording.customer_name.startswith(f.customer_name, autoescape=True))
    if f.id_number:
        q = q.where(Recording.customer_id_number == f.id_number.upper())
    if f.card_number:
        q = q.where(Recording.card_number == f.card_number)
    if f.product:
        ids = _ids(
            session,
            select(Product.id).where((Product.code == f.product) | Product.name.startswith(f.product, autoescape=True)),
        )
        if not ids:
            return None
        q = q.where(Recording.product_id.in_(ids))
    if f.product_type:
        ids = _ids(session, select(ProductType.id).where(ProductType.code == f.product_type))
        if not ids:
            return None
        q = q.where(Recording.product_type_id == ids[0])
    if f.branch_code:
        ids = _ids(session, select(Branch.id).where(Branch.code == f.branch_code))
        if not ids:
            return None
        q = q.where(Recording.branch_id == ids[0])
    if f.staff_code:
        q = q.where(Recording.staff_code == f.staff_code)
    if f.origin:
        q = q.where(Recording.origin == f.origin)
    if f.state:
        q = q.where(Recording.state == f.state)
    if f.quality == "unchecked":
        q = q.where(Recording.quality_verdict.is_(None))
    elif f.quality:
        q = q.where(Recording.quality_verdict == f.quality)
    if f.finding:
        # ix_quality_findings_code_recording answers this from the index alone.
        q = q.where(exists().where(QualityFinding.code == f.finding, QualityFinding.recording_id == Recording.id))
    if f.restrict_branch_id is not None:
        q = q.where(Recording.branch_id == f.restrict_branch_id)
    return q


def _row(
    rec: Recording, branch_code: str, product_code: str, product_name: str, type_code: str, *, unmasked: bool
) -> RecordingRow:
    return RecordingRow(
        recording_id=rec.id,
        clip_id=rec.clip_id,
        business_serial=rec.business_serial,
        branch_code=branch_code,
        counter_code=rec.counter_code,
        staff_code=rec.staff_code,
        customer_name=rec.customer_name,
        id_number=rec.customer_id_number if unmasked else mask_id_number(rec.customer_id_number),
        card_number=rec.card_number if unmasked else mask_card_number(rec.card_number),
        product_code=product_code,
        product_name=product_name,
        product_type=type_code,
        started_at=rec.started_at,
        duration_ms=rec.duration_ms,
        size=rec.size,
        sha256=rec.sha256,
        state=rec.state,
        clip_state=rec.clip_state,
        retain_until=rec.retain_until,
        legal_hold=rec.legal_hold,
        origin=rec.origin,
        quality_verdict=rec.quality_verdict,
    )


def _rows(session: Session, ids: Select[tuple[int]], offset: int, limit: int, unmasked: bool) -> list[RecordingRow]:
    page_ids = ids.order_by(Recording.started_at.desc(), Recording.id.desc()).offset(offset).limit(limit).subquery()
    q = (
        select(Recording, Branch.code, Product.code, Product.name, ProductType.code)
        .join(page_ids, page_ids.c.id == Recording.id)
        .join(Branch, Recording.branch_id == Branch.id)
        .join(Product, Recording.product_id == Product.id)
        .join(ProductType, Recording.product_type_id == ProductType.id)
        .order_by(Recording.started_at.desc(), Recording.id.desc())
    )
    return [_row(*found, unmasked=unmasked) for found in session.execute(q)]


def count_matches(session: Session, f: SearchFilters, cap: int) -> int:
    """How many recordings match, counting no further than `cap`."""
    ids = _filtered(session, f)
    if ids is None:
        return 0
    return session.execute(select(func.count()).select_from(ids.limit(cap).subquery())).scalar_one()


def search(session: Session, f: SearchFilters, offset: int, limit: int, unmasked: bool) -> SearchPage:
    limit = max(1, min(limit, MAX_PAGE))
    ids = _filtered(session, f)
    if ids is None:
        return SearchPage(rows=[], total=0, total_is_lower_bound=False, offset=offset, limit=limit)
    total = count_matches(session, f, COUNT_CAP + 1)
    rows = _rows(session, ids, offset, limit, unmasked)
    if total > COUNT_CAP:
        return SearchPage(rows=rows, total=COUNT_CAP, total_is_lower_bound=True, offset=offset, limit=limit)
    return SearchPage(rows=rows, total=total, total_is_lower_bound=False, offset=offset, limit=limit)


def all_matches(session: Session, f: SearchFilters, unmasked: bool, chunk: int = 500) -> Iterator[RecordingRow]:
    """Every matching row, newest first, a chunk at a time (for the CSV and XLSX lists).

    Each chunk continues after the last row of the one before (keyset), so a clip archived meanwhile
    neither shifts rows into a second appearance nor out of the list.
    """
    ids = _filtered(session, f)
    if ids is None:
        return
    after: tuple[datetime, int] | None = None
    while True:
        q = ids if after is None else ids.where(tuple_(Recording.started_at, Recording.id) < after)
        rows = _rows(session, q, 0, chunk, unmasked)
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1]
        after = (last.started_at, last.recording_id)
