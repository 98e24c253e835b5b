"""How a take comes about, from the counter's form: a sale recorded as it happens, recorded again after
its first clip failed the check, or recorded after the fact (补录) because its recording is missing,
cut off or unusable. Each wrong field gets its own message, in Chinese and English.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from branch_agent.counter.sale_validation import FieldError
from branch_agent.db.models import COMPLETED, INTERRUPTED, Clip
from branch_agent.spool.take_context import TakeContext
from storage.manifest import Supplementary

ORIGINS = ("recorded", "re_recorded", "supplementary")
MAX_REASON = 500


def take_context_from_form(
    form: dict[str, str],
    business_serial: str,
    db: Session,
    tz: ZoneInfo,
    max_supplementary_age_days: int,
    now: datetime | None = None,
) -> TakeContext | list[FieldError]:
    """The take's context, or what is wrong with the form's origin fields."""
    origin = form.get("origin", "").strip() or "recorded"
    if origin not in ORIGINS:
        return [FieldError("origin", f"未知录像类型 / unknown kind of recording {origin!r}")]
    if origin == "recorded":
        return TakeContext()
    errors: list[FieldError] = []
    earlier = _earlier_clip(
        form.get("earlier_clip_id", "").strip(), business_serial, db, required=origin == "re_recorded"
    )
    if isinstance(earlier, FieldError):
        errors.append(earlier)
        earlier = None
    if origin == "re_recorded":
        return errors or TakeContext(origin="re_recorded", earlier_clip_id=earlier)
    reason = form.get("supplementary_reason", "").strip()
    if not reason:
        errors.append(
            FieldError("supplementary_reason", "请填写补录原因 / give the reason for the supplementary recording")
        )
    elif len(reason) > MAX_REASON:
        errors.append(
            FieldError("supplementary_reason", f"补录原因最多 {MAX_REASON} 字 / at most {MAX_REASON} characters")
        )
    sale_at = _sale_time(form.get("sale_time", "").strip(), tz, max_supplementary_age_days, now or datetime.now(UTC))
    if isinstance(sale_at, FieldError):
        errors.append(sale_at)
    if errors:
        return errors
    assert isinstance(sale_at, datetime)
    return TakeContext(
        origin="supplementary",
        earlier_clip_id=earlier,
        supplementary=Supplementary(reason=reason, sale_at=sale_at),
    )


def _earlier_clip(clip_id: str, business_serial: str, db: Session, required: bool) -> str | FieldError | None:
    if not clip_id:
        if required:
            return FieldError("earlier_clip_id", "重录须指明原录像 / a re-recording names the clip it replaces")
        return None
    clip = db.execute(select(Clip).where(Clip.clip_id == clip_id)).scalar_one_or_none()
    if clip is None or clip.state not in (COMPLETED, INTERRUPTED):
        return FieldError("earlier_clip_id", f"本网点没有录像 {clip_id} / this branch has no clip {clip_id}")
    if clip.business_serial != business_serial:
        return FieldError(
            "earlier_clip_id",
            f"原录像属于业务单号 {clip.business_serial}，不是 {business_serial} / "
            f"clip {clip_id} belongs to sale {clip.business_serial}, not {business_serial}",
        )
    return clip_id


def _sale_time(raw: str, tz: ZoneInfo, max_age_days: int, now: datetime) -> datetime | FieldError:
    if not raw:
        return FieldError("sale_time", "请填写原销售时间 / enter when the sale took place")
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        return FieldError(
            "sale_time", f"时间格式应为 YYYY-MM-DD HH:MM / time must look like YYYY-MM-DD HH:MM, not {raw!r}"
        )
    at = (local if local.tzinfo else local.replace(tzinfo=tz)).astimezone(UTC)
    if at > now:
        return FieldError("sale_time", "原销售时间不能晚于现在 / the sale cannot be in the future")
    if at < now - timedelta(days=max_age_days):
        return FieldError(
            "sale_time",
            f"只能补录 {max_age_days} 天内的销售 / only sales of the last {max_age_days} days can be recorded afterwards",
        )
    return at
