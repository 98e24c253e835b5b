"""Business types and products as the system admin configures them; every change audited with before and after.

A product or type that a recording refers to is never deleted, only deactivated. When what a
recording's retention is computed from changes (maturity date, term, the product's type or the type's
rule), the recordings of that product are recomputed in the same transaction, so the catalogue and the
locks on the evidence never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.admin.catalogue_input import ProductCreate, ProductEdit, ProductTypeCreate, ProductTypeEdit
from center_platform.audit import trail as audit
from center_platform.db.models import Product, ProductType
from center_platform.retention.events import product_terms_changed
from center_platform.retention.rules import FIXED_TERM, YEAR_FIELDS, below_minimum, minimum_message
from storage.object_store import ObjectStore


class CatalogueError(ValueError):
    """Bad or conflicting input; `field` names what to fix, `status` is the HTTP answer (400, 404, 409)."""

    def __init__(self, message: str, status: int = 400, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Approval:
    """A four-eyes change being applied: proposed by one system admin, approved by another."""

    change_id: int
    proposed_by: str
    approved_by: str

    def audit(self) -> dict[str, object]:
        return {"change": self.change_id, "proposed_by": self.proposed_by, "approved_by": self.approved_by}


class NeedsApproval(CatalogueError):
    """The change is one that a second system admin must approve: it goes through `four_eyes`."""

    def __init__(self, what: str, field: str) -> None:
        super().__init__(
            f"{what}须经另一名系统管理员复核后生效 / {field} changes only with a second system admin's approval",
            409,
            field,
        )


# What a retention rule is: changing any of these on an existing type takes four eyes.
RULE_FIELDS = ("retention_rule", *YEAR_FIELDS)


def check_minimum(years: dict[str, Any], minimum_years: int) -> None:
    """Every year count of a rule at least the regulatory minimum; the first one below is named."""
    low = below_minimum({f: int(years[f]) for f in YEAR_FIELDS}, minimum_years)
    if low:
        raise CatalogueError(minimum_message(low[0], int(years[low[0]]), minimum_years), 400, low[0])


@dataclass(frozen=True)
class Changed:
    """The outcome of an edit: the entity as now stored and how many recordings' retention moved."""

    view: dict[str, Any]
    retention_moved: int = 0


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, object]:
    """Only what changed, for the audit line: {"before": {...}, "after": {...}}."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after[k] for k in keys}}


def edited_fields(data: BaseModel) -> dict[str, Any]:
    """The fields an edit sent; sending one as null is refused rather than clearing it."""
    out = {}
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is None:
            raise CatalogueError("may not be empty", 400, name)
        out[name] = value
    return out


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def product_type_view(t: ProductType) -> dict[str, Any]:
    return {
        "code": t.code,
        "name": t.name,
        "retention_rule": t.retention_rule,
        "years_after_maturity": t.years_after_maturity,
        "years_after_purchase": t.years_after_purchase,
        "years_after_redemption": t.years_after_redemption,
        "years_after_dispute": t.years_after_dispute,
    }


def product_markers(p: Product) -> list[str]:
    """The moments a recording of ``p`` must show, in their order."""
    return [str(m) for m in json.loads(p.required_markers or "[]")]


def product_view(p: Product) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "type_code": p.product_type.code,
        "term_days": p.term_days,
        "maturity_date": _jsonable(p.maturity_date),
        "risk_level": p.risk_level,
        "disclosure_script": p.disclosure_script,
        "required_markers": product_markers(p),
        "min_duration_s": p.min_duration_s,
        "active": p.active,
    }


def _type_by_code(db: Session, code: str, field: str = "code") -> ProductType:
    t = db.execute(select(ProductType).where(ProductType.code == code)).scalar_one_or_none()
    if t is None:
        raise CatalogueError(f"no business type {code!r}", 404 if field == "code" else 400, field)
    return t


def _product_by_code(db: Session, code: str) -> Product:
    p = db.execute(select(Product).where(Product.code == code)).scalar_one_or_none()
    if p is None:
        raise CatalogueError(f"no product {code!r}", 404, "code")
    return p


def list_product_types(db: Session) -> list[dict[str, Any]]:
    return [product_type_view(t) for t in db.execute(select(ProductType).order_by(ProductType.code)).scalars()]


def list_products(db: Session) -> list[dict[str, Any]]:
    return [product_view(p) for p in db.execute(select(Product).order_by(Product.code)).scalars()]


def create_product_type(db: Session, actor: str, data: ProductTypeCreate, *, minimum_years: int) -> Changed:
    check_minimum(data.model_dump(), minimum_years)
    if db.execute(select(ProductType.id).where(ProductType.code == data.code)).first():
        raise CatalogueError(f"business type {data.code!r} already exists", 409, "code")
    t = ProductType(**data.model_dump())
    db.add(t)
    db.flush()
    audit.append(db, actor, "catalogue.type.created", data.code, {"after": product_type_view(t)})
    return Changed(product_type_view(t))


def rule_changes(db: Session, code: str, data: ProductTypeEdit) -> dict[str, Any]:
    """The rule fields the edit sends with a value other than the type's present one."""
    current = product_type_view(_type_by_code(db, code))
    return {k: v for k, v in edited_fields(data).items() if k in RULE_FIELDS and current[k] != v}


def edit_product_type(
    db: Session,
    store: ObjectStore,
    actor: str,
    code: str,
    data: ProductTypeEdit,
    *,
    minimum_years: int,
    approval: Approval | None = None,
) -> Changed:
    """A rule change needs `approval` (see four_eyes) and keeps every year count at or above the minimum."""
    t = _type_by_code(db, code)
    before = product_type_view(t)
    fields = edited_fields(data)
    rule_fields = set(RULE_FIELDS)
    if any(k in rule_fields and before[k] != v for k, v in fields.items()):
        if approval is None:
            raise NeedsApproval("保存规则", next(k for k in fields if k in rule_fields and before[k] != fields[k]))
        check_minimum({**before, **fields}, minimum_years)
    for name, value in fields.items():
        setattr(t, name, value)
    db.flush()
    after = product_type_view(t)
    moved = 0
    if any(before[k] != after[k] for k in rule_fields):
        products = (
            db.execute(select(Product).where(Product.product_type_id == t.id).order_by(Product.code)).scalars().all()
        )
        for p in products:
            _require_maturity_source(p, t)
        for p in products:
            moved += product_terms_changed(db, store, p, actor)
    detail: dict[str, object] = {**diff(before, after), "retention_moved": moved}
    if approval is not None:
        detail.update(approval.audit())
    audit.append(db, actor, "catalogue.type.updated", code, detail)
    return Changed(after, moved)


def _require_maturity_source(p: Product, t: ProductType) -> None:
    if t.retention_rule == FIXED_TERM and p.maturity_date is None and p.term_days is None:
        raise CatalogueError(
            f"product {p.code} of fixed-term type {t.code} needs a maturity date or a term in days",
            400,
            "maturity_date",
        )


def create_product(db: Session, actor: str, data: ProductCreate) -> Changed:
    if db.execute(select(Product.id).where(Product.code == data.code)).first():
        raise CatalogueError(f"product {data.code!r} already exists", 409, "code")
    t = _type_by_code(db, data.type_code, "type_code")
    p = Product(
        code=data.code,
        name=data.name,
        product_type_id=t.id,
        product_type=t,
        term_days=data.term_days,
        maturity_date=data.maturity_date,
        risk_level=data.risk_level,
        disclosure_script=data.disclosure_script,
        required_markers=json.dumps(data.required_markers, ensure_ascii=False),
        min_duration_s=data.min_duration_s,
        active=True,
    )
    _require_maturity_source(p, t)
    db.add(p)
    db.flush()
    audit.append(db, actor, "catalogue.product.created", data.code, {"after": product_view(p)})
    return Changed(product_view(p))


_RETENTION_INPUTS = ("type_code", "term_days", "maturity_date")


def edit_product(db: Session, store: ObjectStore, actor: str, code: str, data: ProductEdit) -> Changed:
    p = _product_by_code(db, code)
    before = product_view(p)
    sent = data.model_fields_set
    for name in sent:
        value = getattr(data, name)
        if value is None and name not in ("term_days", "maturity_date"):
            raise CatalogueError("may not be empty", 400, name)
        if name == "type_code":
            t = _type_by_code(db, value, "type_code")
            p.product_type_id, p.product_type = t.id, t
        elif name == "required_markers":
            p.required_markers = json.dumps(value, ensure_ascii=False)
        else:
            setattr(p, name, value)
    _require_maturity_source(p, p.product_type)
    db.flush()
    after = product_view(p)
    moved = 0
    if any(before[k] != after[k] for k in _RETENTION_INPUTS):
        moved = product_terms_changed(db, store, p, actor)
    audit.append(db, actor, "catalogue.product.updated", code, {**diff(before, after), "retention_moved": moved})
    return Changed(after, moved)
