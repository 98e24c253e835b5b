"""Everything the center knows about one recorded sale, as the player shows it: who sold what to whom
where, the moments marked on the recording (chapters), its gaps and an interrupted end, the quality
verdict and findings with their time ranges, how the manifest's signature and chain were found, the
retention, and how the clip came about with the other clips of the same sale.

The same typed view feeds the player page and its JSON (``/api/recordings/<clip_id>/sale``).
Identifiers are masked unless the viewer's role sees them in full; a clip of another branch is
linked only for a viewer who may open it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.archive.quality_labels import FINDING_LABELS, verdict_label
from center_platform.archive.search import ORIGIN_LABELS
from center_platform.db.models import ARCHIVED, Branch, Counter, Product, Recording, Staff
from center_platform.ingest.clip_findings import manifest_findings, product_policy
from center_platform.retention.rules import last_day_kept
from storage.contract.masking import mask_card_number, mask_id_number
from storage.manifest import ClipManifest
from storage.quality.report import Finding, QualityReport

MARKER_LABELS: dict[str, str] = {
    "risk_disclosed": "风险揭示 Risk disclosed",
    "customer_confirmed": "客户确认 Customer confirmed",
    "signed": "签字 Signed",
}
CHAIN_LABELS: dict[str, str] = {
    "first": "链首（该网点第一段录像）first of the branch's chain",
    "linked": "已连续 linked to the previous clip",
    "awaiting": "等待前一段录像 waiting for the previous clip",
    "restarted": "链重新开始（前一段缺失）chain restarted: the previous clip is missing",
}
ID_TYPE_LABELS: dict[str, str] = {
    "resident_id": "居民身份证 resident ID",
    "passport": "护照 passport",
    "hk_macao_permit": "港澳通行证 HK/Macao permit",
    "taiwan_permit": "台湾通行证 Taiwan permit",
    "other": "其他 other",
}


@dataclass(frozen=True)
class Chapter:
    label: str
    at_s: float


@dataclass(frozen=True)
class Gap:
    source: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class FindingView:
    code: str
    label: str
    severity: str
    subject: str
    start_s: float
    end_s: float
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class LinkedClip:
    clip_id: str
    origin_label: str
    started_at: datetime
    openable: bool  # in the archive and of a branch the viewer may see


@dataclass(frozen=True)
class SaleView:
    clip_id: str
    business_serial: str
    started_at: datetime
    duration_s: float
    interrupted: bool
    customer_name: str
    id_type: str
    id_number: str
    card_number: str
    product_code: str
    product_name: str
    product_type: str
    risk_level: str
    staff_code: str
    staff_name: str
    branch_code: str
    branch_name: str
    counter_code: str
    counter_name: str
    chapters: list[Chapter]
    gaps: list[Gap]
    quality_verdict: str | None
    quality_label: str
    # True while only the manifest has been judged (at ingest); the media analysis is still to come.
    quality_preliminary: bool
    analysed_at: datetime | None
    findings: list[FindingView]
    signature_key_id: str
    verified_at: datetime
    chain_status: str
    chain_label: str
    retain_until: datetime
    kept_through: date
    retention_reason: str
    legal_hold: bool
    redeemed_on: date | None
    origin: str
    origin_label: str
    origin_reason: str
    sale_at: datetime | None
    imported_device: str
    imported_file: str
    imported_by: str
    imported_at: datetime | None
    consent_at: datetime | None
    markers_missing_reason: str
    earlier: LinkedClip | None
    later: list[LinkedClip]


def _chapters(manifest: ClipManifest) -> list[Chapter]:
    out = []
    for m in sorted(manifest.markers, key=lambda m: m.at_ms):
        label = m.text.strip() if m.kind == "note" and m.text.strip() else MARKER_LABELS.get(m.kind, m.kind)
        out.append(Chapter(label=label, at_s=m.at_ms / 1000))
    return out


def _finding_view(f: Finding) -> FindingView:
    return FindingView(
        code=f.code,
        label=FINDING_LABELS.get(f.code, f.code),
        severity=f.severity,
        subject=f.subject,
        start_s=f.start_s,
        end_s=f.end_s,
        message_zh=f.message_zh,
        message_en=f.message_en,
    )


def _linked(rec: Recording, visible_branch_id: int | None) -> LinkedClip:
    return LinkedClip(
        clip_id=rec.clip_id,
        origin_label=ORIGIN_LABELS.get(rec.origin, rec.origin),
        started_at=rec.started_at,
        openable=rec.state == ARCHIVED and visible_branch_id in (None, rec.branch_id),
    )


def build_sale_view(
    db: Session, rec: Recording, tz: tzinfo, *, unmasked: bool, visible_branch_id: int | None
) -> SaleView:
    """``visible_branch_id``: the only branch the viewer may see (a branch admin's), None for all."""
    manifest = ClipManifest.parse(rec.manifest_json)
    branch = db.get(Branch, rec.branch_id)
    product = db.get(Product, rec.product_id)
    assert branch is not None and product is not None
    counter = db.execute(
        select(Counter).where(Counter.branch_id == rec.branch_id, Counter.code == rec.counter_code)
    ).scalar_one_or_none()
    staff = db.execute(select(Staff).where(Staff.code == rec.staff_code)).scalar_one_or_none()
    report = QualityReport.model_validate_json(rec.quality_report_json) if rec.quality_report_json else None
    findings = report.findings if report else manifest_findings(manifest, product_policy(product))
    earlier = (
        db.execute(select(Recording).where(Recording.clip_id == rec.earlier_clip_id)).scalar_one_or_none()
        if rec.earlier_clip_id
        else None
    )
    later = db.execute(
        select(Recording).where(Recording.earlier_clip_id == rec.clip_id).order_by(Recording.started_at)
    ).scalars()
    imported = manifest.imported
    return SaleView(
        clip_id=rec.clip_id,
        business_serial=rec.business_serial,
        started_at=rec.started_at,
        duration_s=rec.duration_ms / 1000,
        interrupted=rec.clip_state == "interrupted",
        customer_name=rec.customer_name,
        id_type=ID_TYPE_LABELS.get(rec.customer_id_type, rec.customer_id_type),
        id_number=rec.customer_id_number if unmasked else mask_id_number(rec.customer_id_number),
        card_number=rec.card_number if unmasked else mask_card_number(rec.card_number),
        product_code=product.code,
        product_name=product.name,
        product_type=product.product_type.name,
        risk_level=product.risk_level,
        staff_code=rec.staff_code,
        # The name as the center knows it now; a manager removed since is still named by the code.
        staff_name=staff.name if staff is not None and staff.branch_id == rec.branch_id else "",
        branch_code=branch.code,
        branch_name=branch.name,
        counter_code=rec.counter_code,
        counter_name=counter.name if counter is not None else "",
        chapters=_chapters(manifest),
        gaps=[Gap(g.source, g.start_ms / 1000, (g.start_ms + g.duration_ms) / 1000) for g in manifest.gaps],
        quality_verdict=rec.quality_verdict,
        quality_label=verdict_label(rec.quality_verdict),
        quality_preliminary=report is None,
        analysed_at=report.analysed_at if report else None,
        findings=[_finding_view(f) for f in findings],
        signature_key_id=manifest.signature.key_id if manifest.signature else "",
        verified_at=rec.verified_at,
        chain_status=rec.chain_status,
        chain_label=CHAIN_LABELS.get(rec.chain_status, rec.chain_status),
        retain_until=rec.retain_until,
        kept_through=last_day_kept(rec.retain_until, tz),
        retention_reason=rec.retention_reason,
        legal_hold=rec.legal_hold,
        redeemed_on=rec.redeemed_on,
        origin=rec.origin,
        origin_label=ORIGIN_LABELS.get(rec.origin, rec.origin),
        origin_reason=(
            manifest.supplementary.reason if manifest.supplementary else imported.reason if imported else ""
        ),
        sale_at=rec.sale_at,
        imported_device=imported.device if imported else "",
        imported_file=imported.original_file_name if imported else "",
        imported_by=imported.imported_by if imported else "",
        imported_at=imported.imported_at if imported else None,
        consent_at=rec.consent_at,
        markers_missing_reason=manifest.markers_missing_reason or "",
        earlier=_linked(earlier, visible_branch_id) if earlier is not None else None,
        later=[_linked(r, visible_branch_id) for r in later],
    )


def sale_json(view: SaleView) -> dict[str, object]:
    """The view as JSON: times in ISO 8601, dates as YYYY-MM-DD."""

    def plain(value: object) -> object:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    out = plain(asdict(view))
    assert isinstance(out, dict)
    return out
