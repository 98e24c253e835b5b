"""Catalogue search: typed filters in, masked rows out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch, Product, ProductType, Recording
from center_platform.masking import mask_card_number, mask_id_number

MAX_PAGE = 200


@dataclass(frozen=True)
class SearchFilters:
    started_from: datetime | None = None
    started_to: datetime | None = None
    business_serial: str | None = None
    customer_name: str | None = None  # prefix
    id_number: str | None = None
    card_number: str | None = None
    product: str | None = None  # code or name prefix
    product_type: str | None = None  # code
    branch_code: str | None = None
    staff_code: str | None = None
    state: str | None = None
    restrict_branch_id: int | None = None  # set from the user's role, never from the request


@dataclass(frozen=True)
class RecordingRow:
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


@dataclass(frozen=True)
class SearchPage:
    rows: list[RecordingRow]
    total: int
    offset: int
    limit: int


def _apply(q: Select, f: SearchFilters) -> Select:  # type: ignore[type-arg]
    if f.started_from:
        q = q.where(Recording.started_at >= f.started_from)
    if f.started_to:
        q = q.where(Recording.started_at < f.started_to)
    if f.business_serial:
        q = q.where(Recording.business_serial == f.business_serial)
    if f.customer_name:
        q = q.where(Recording.customer_name.startswith(f.customer_name, autoescape=True))
    if f.id_number:
        q = q.where(Recording.customer_id_number == f.id_number.upper())
    if f.card_number:
        q = q.where(Recording.card_number == f.card_number)
    if f.product:
        q = q.where((Product.code == f.product) | Product.name.startswith(f.product, autoescape=True))
    if f.product_type:
        q = q.where(ProductType.code == f.product_type)
    if f.branch_code:
        q = q.where(Branch.code == f.branch_code)
    if f.staff_code:
        q = q.where(Recording.staff_code == f.staff_code)
    if f.state:
        q = q.where(Recording.state == f.state)
    if f.restrict_branch_id is not None:
        q = q.where(Recording.branch_id == f.restrict_branch_id)
    return q


def search(session: Session, f: SearchFilters, offset: int, limit: int, unmasked: bool) -> SearchPage:
    limit = max(1, min(limit, MAX_PAGE))
    base = (
        select(Recording, Branch.code, Product.code, Product.name, ProductType.code)
        .join(Branch, Recording.branch_id == Branch.id)
        .join(Product, Recording.product_id == Product.id)
        .join(ProductType, Recording.product_type_id == ProductType.id)
    )
    q = _apply(base, f)
    total = session.execute(select(func.count()).select_from(q.order_by(None).subquery())).scalar_one()
    result = session.execute(q.order_by(Recording.started_at.desc(), Recording.id.desc()).offset(offset).limit(limit))
    rows = []
    for rec, branch_code, product_code, product_name, type_code in result:
        rows.append(
            RecordingRow(
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
            )
        )
    return SearchPage(rows=rows, total=total, offset=offset, limit=limit)
