"""Retain-until recomputed from a recording's facts whenever one of them changes, and applied to the store.

The result only ever moves later: a rule that now yields an earlier day keeps the current date (and
the audit line says so). The object store is changed before the catalogue row, so a failure in between
leaves the store's lock later than the index, never shorter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.models import Dispute, Product, ProductType, Recording
from center_platform.retention.rules import RetentionDecision, RetentionFacts, RetentionRule, decide, maturity_for
from storage.object_store import ObjectStore, ObjectVersion

MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class RetentionChange:
    clip_id: str
    event: str
    old_retain_until: datetime
    new_retain_until: datetime
    reason: str
    legal_hold: bool
    hold_changed: bool
    note: str = ""

    @property
    def moved(self) -> bool:
        return self.new_retain_until > self.old_retain_until


def rule_of(ptype: ProductType) -> RetentionRule:
    return RetentionRule(
        kind=ptype.retention_rule,
        years_after_maturity=ptype.years_after_maturity,
        years_after_purchase=ptype.years_after_purchase,
        years_after_redemption=ptype.years_after_redemption,
        years_after_dispute=ptype.years_after_dispute,
    )


def purchase_day(rec: Recording) -> date:
    """The sale's day where it happened: a sale at 00:30 in Shanghai is that Shanghai day, not the UTC one."""
    return rec.started_at.astimezone(ZoneInfo(rec.branch.timezone)).date()


def facts_of(session: Session, rec: Recording) -> RetentionFacts:
    purchase = purchase_day(rec)
    closed = session.execute(
        select(Dispute.closed_on)
        .where(Dispute.recording_id == rec.id, Dispute.closed_on.is_not(None))
        .order_by(Dispute.closed_on.desc())
        .limit(1)
    ).scalar_one_or_none()
    return RetentionFacts(
        purchase_date=purchase,
        maturity_date=maturity_for(purchase, rec.product.maturity_date, rec.product.term_days),
        redemption_date=rec.redeemed_on,
        dispute_closed_date=closed,
    )


def has_open_dispute(session: Session, rec: Recording) -> bool:
    return (
        session.execute(
            select(Dispute.id).where(Dispute.recording_id == rec.id, Dispute.closed_at.is_(None)).limit(1)
        ).first()
        is not None
    )


def evidence_versions(store: ObjectStore, rec: Recording) -> list[ObjectVersion]:
    """The clip's catalogued version and every stored version of its manifest."""
    manifest_key = rec.object_key + MANIFEST_SUFFIX
    manifests = [v for v in store.list_versions(manifest_key) if v.key == manifest_key]
    return [ObjectVersion(rec.object_key, rec.version_id), *manifests]


def recompute(
    session: Session,
    store: ObjectStore,
    rec: Recording,
    event: str,
    actor: str,
    detail: dict[str, object] | None = None,
) -> RetentionChange:
    """Re-derives retain-until and legal hold for one archived recording; applies and audits any change."""
    rule = rule_of(rec.product.product_type)
    tz = ZoneInfo(rec.branch.timezone)
    decision: RetentionDecision = decide(rule, facts_of(session, rec), tz)
    old = rec.retain_until
    hold = has_open_dispute(session, rec)
    note = ""
    if decision.retain_until > old:
        new, reason = decision.retain_until, decision.reason
    else:
        new, reason = old, rec.retention_reason
        if decision.retain_until < old:
            note = (
                f"the rule now gives {decision.retain_until.isoformat()} ({decision.reason}); "
                f"the later {old.isoformat()} is kept because retention never shortens"
            )
    change = RetentionChange(rec.clip_id, event, old, new, reason, hold, hold != rec.legal_hold, note)
    if not (change.moved or change.hold_changed or note):
        return change

    versions = evidence_versions(store, rec) if (change.moved or change.hold_changed) else []
    if change.moved:
        for v in versions:
            store.set_retention(v.key, v.version_id, new)
    if change.hold_changed:
        for v in versions:
            store.set_legal_hold(v.key, v.version_id, hold)
    rec.retain_until = new
    rec.retention_reason = reason
    rec.retention_rule = rule.kind
    rec.legal_hold = hold
    audit.append(
        session,
        actor,
        "retention.changed" if (change.moved or change.hold_changed) else "retention.kept",
        rec.clip_id,
        {
            "event": event,
            "old_retain_until": old.isoformat(),
            "new_retain_until": new.isoformat(),
            "reason": reason,
            "legal_hold": hold,
            "note": note,
            **(detail or {}),
        },
    )
    session.flush()
    if change.moved:
        # The rest of the sale's clips follow (imported here: that module builds on this one).
        from center_platform.retention.sale_alignment import align_sale

        align_sale(session, store, rec, actor)
    return change


def product_terms_changed(session: Session, store: ObjectStore, product: Product, actor: str) -> int:
    """A product's maturity, term or type changed: every archived recording of it is recomputed.

    Returns how many recordings' retain-until moved later. The caller commits.
    """
    session.flush()
    session.expire(product, ["product_type"])  # the type may have been swapped by id
    recs = (
        session.execute(
            select(Recording)
            .where(Recording.product_id == product.id, Recording.state == "archived")
            .order_by(Recording.id)
        )
        .scalars()
        .all()
    )
    moved = 0
    for rec in recs:
        change = recompute(session, store, rec, "product.terms_changed", actor, {"product": product.code})
        moved += int(change.moved)
    return moved
