"""Search and replay over the catalogue. Replay streams from the archive by HTTP Range, audited."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from flask import Blueprint, Response, abort, g, jsonify, request, session, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from center_platform.archive.quality_labels import FINDING_CODES, QualityFilter, verdict_label
from center_platform.archive.replay import ReplayBusy
from center_platform.archive.sale_view import SaleView, build_sale_view, sale_json
from center_platform.archive.search import (
    MIN_CONTAINS,
    ORIGIN_LABELS,
    STATES,
    NameMatch,
    RecordingRow,
    SearchFilters,
    SearchPage,
    search,
)
from center_platform.archive.supplementary import PENDING, STATE_LABELS, latest_decisions
from center_platform.audit import trail as audit
from center_platform.db.models import Recording
from center_platform.web import services
from center_platform.web.roles import own_branch_only, sees_full_identifiers
from center_platform.web.user_auth import CurrentUser
from storage.ascii_numbers import whole_number
from storage.contract.masking import mask_card_number, mask_id_number
from storage.manifest import is_clip_id
from storage.object_store import StorageError
from storage.virtual_media import RangeNotServed, answer_range

bp = Blueprint("recordings_api", __name__, url_prefix="/api/recordings")

_FILTER_KEYS = (
    "business_serial",
    "customer_name",
    "id_number",
    "card_number",
    "product",
    "product_type",
    "branch_code",
    "staff_code",
    "state",
    "quality",
    "finding",
    "origin",
)
_NAME_MATCHES: dict[str, NameMatch] = {"prefix": "prefix", "contains": "contains"}
_QUALITY: dict[str, QualityFilter] = {"pass": "pass", "fail": "fail", "unchecked": "unchecked"}


class BadQuery(ValueError):
    pass


@bp.errorhandler(BadQuery)
def _bad(exc: BadQuery) -> ResponseReturnValue:
    return jsonify(error=str(exc)), 400


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadQuery(f"{name}: {raw!r} is not an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=services().display_tz)
    return value


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    value = whole_number(raw)
    if value is None or not low <= value <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return value


def filters_from_request(user: CurrentUser) -> SearchFilters:
    unknown = set(request.args) - set(_FILTER_KEYS) - {"from", "to", "offset", "limit", "name_match"}
    if unknown:
        raise BadQuery(f"unknown search parameter {sorted(unknown)[0]!r}")
    values = {k: (request.args.get(k, "").strip() or None) for k in _FILTER_KEYS}
    raw_match = request.args.get("name_match", "").strip() or "prefix"
    name_match = _NAME_MATCHES.get(raw_match)
    if name_match is None:
        raise BadQuery(f"name_match must be prefix or contains, not {raw_match!r}")
    if name_match == "contains" and values["customer_name"] and len(values["customer_name"]) < MIN_CONTAINS:
        # One character occurs in a few percent of all names: a sample of customers, not a search.
        raise BadQuery(
            f"customer_name: a contains search needs at least {MIN_CONTAINS} characters "
            "(a single character works with starts with)"
        )
    if values["state"] and values["state"] not in STATES:
        raise BadQuery(f"state must be one of {', '.join(STATES)}, not {values['state']!r}")
    raw_quality = values.pop("quality")
    quality = _QUALITY.get(raw_quality or "")
    if raw_quality and quality is None:
        raise BadQuery(f"quality must be one of {', '.join(_QUALITY)}, not {raw_quality!r}")
    if values["finding"] and values["finding"] not in FINDING_CODES:
        raise BadQuery(f"finding must be one of {', '.join(FINDING_CODES)}, not {values['finding']!r}")
    if values["origin"] and values["origin"] not in ORIGIN_LABELS:
        raise BadQuery(f"origin must be one of {', '.join(ORIGIN_LABELS)}, not {values['origin']!r}")
    started_from, started_to = _time_arg("from"), _time_arg("to")
    if started_from and started_to and started_to <= started_from:
        raise BadQuery("to must be later than from")
    return SearchFilters(
        started_from=started_from,
        started_to=started_to,
        name_match=name_match,
        quality=quality,
        restrict_branch_id=user.branch_id if own_branch_only(user.role) else None,
        **values,
    )


def audit_filters(f: SearchFilters) -> dict[str, str]:
    """What was searched for, for the audit line; an ID or card number searched for is masked there too."""
    out = {
        k: (v.isoformat() if isinstance(v, datetime) else str(v))
        for k, v in asdict(f).items()
        if v is not None and k not in ("name_match", "restrict_branch_id")
    }
    if f.customer_name:
        out["name_match"] = f.name_match
    if f.id_number:
        out["id_number"] = mask_id_number(f.id_number)
    if f.card_number:
        out["card_number"] = mask_card_number(f.card_number)
    return out


def run_search(user: CurrentUser, f: SearchFilters, offset: int, limit: int) -> SearchPage:
    """One audited search: who looked, for what, and how many rows they were shown."""
    with services().sessions() as db:
        page = search(db, f, offset, limit, unmasked=sees_full_identifiers(user.role))
        audit.append(
            db,
            user.username,
            "search",
            "recordings",
            {"filters": audit_filters(f), "offset": offset, "shown": len(page.rows)},
        )
        db.commit()
    return page


def row_json(r: RecordingRow) -> dict[str, object]:
    d = asdict(r)
    del d["recording_id"]  # internal key; the clip id names a recording outside the database
    d["started_at"] = r.started_at.isoformat()
    d["started_local"] = r.started_at.astimezone(services().display_tz).strftime("%Y-%m-%d %H:%M:%S")
    d["retain_until"] = r.retain_until.isoformat()
    d["origin_label"] = ORIGIN_LABELS.get(r.origin, r.origin)
    d["quality_label"] = verdict_label(r.quality_verdict)
    return d


@bp.get("")
def search_recordings() -> ResponseReturnValue:
    user: CurrentUser = g.user
    f = filters_from_request(user)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    limit = _int_arg("limit", 50, 1, 200)
    page = run_search(user, f, offset, limit)
    rows = [row_json(r) for r in page.rows]
    supplementary = [r["clip_id"] for r in rows if r["origin"] == "supplementary"]
    if supplementary:
        # A supplementary recording shows whether it was approved, so nobody takes a rejected one as evidence.
        with services().sessions() as db:
            decided = latest_decisions(db, [str(c) for c in supplementary])
        for r in rows:
            if r["origin"] == "supplementary":
                d = decided.get(str(r["clip_id"]))
                r["approval"] = d.state if d else PENDING
                r["approval_label"] = STATE_LABELS[d.state if d else PENDING]
    return jsonify(
        total=page.total,
        total_is_lower_bound=page.total_is_lower_bound,
        offset=page.offset,
        limit=page.limit,
        rows=rows,
    )


def recording_for(user: CurrentUser, clip_id: str) -> Recording:
    if not is_clip_id(clip_id):
        abort(404)
    with services().sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one_or_none()
        if rec is None:
            abort(404)
        # Another branch's admin learns nothing of the clip, not even that it was deleted.
        if own_branch_only(user.role) and rec.branch_id != user.branch_id:
            audit.append(db, user.username, "replay.denied", clip_id, {"reason": "other branch"})
            db.commit()
            abort(403)
        if rec.state == "deleted":
            abort(410, description=f"clip {clip_id} was deleted at the end of its retention")
        if rec.state != "archived":
            abort(404)
        return rec


def _audit_replay_once(user: CurrentUser, clip_id: str) -> None:
    """One audit line per clip per sign-in: a player issues many Range requests for one viewing."""
    seen = list(session.get("replayed", []))
    if clip_id in seen:
        return
    with services().sessions() as db:
        audit.append(db, user.username, "replay", clip_id, {"ip": request.remote_addr or ""})
        db.commit()
    session["replayed"] = (seen + [clip_id])[-200:]


def sale_view_for(user: CurrentUser, rec: Recording) -> SaleView:
    """The whole sale as the player shows it, audited like a search: who saw which clip's details,
    and whether the identifiers were shown in full."""
    unmasked = sees_full_identifiers(user.role)
    with services().sessions() as db:
        view = build_sale_view(
            db,
            rec,
            services().display_tz,
            unmasked=unmasked,
            visible_branch_id=user.branch_id if own_branch_only(user.role) else None,
        )
        audit.append(db, user.username, "recording.viewed", rec.clip_id, {"unmasked": unmasked})
        db.commit()
    return view


@bp.get("/<clip_id>/sale")
def sale(clip_id: str) -> ResponseReturnValue:
    user: CurrentUser = g.user
    return jsonify(sale_json(sale_view_for(user, recording_for(user, clip_id))))


@bp.get("/<clip_id>/media")
def media(clip_id: str) -> ResponseReturnValue:
    """The clip's replay view (the object's bytes with seek boxes inserted) by HTTP Range, capped per request."""
    user: CurrentUser = g.user
    rec = recording_for(user, clip_id)
    replay = services().replay
    # Replay streams; it never hands out the whole file in one answer (that is the evidence export,
    # for compliance officers): a request without Range gets the first part, as a player would ask.
    header = request.headers.get("Range", "") or "bytes=0-"
    try:
        view = replay.view(rec)
        answer = answer_range(header, view.size, replay.settings.max_response_bytes)
        if answer.status == 416:
            return Response(status=416, headers=answer.headers())
        _audit_replay_once(user, clip_id)
        body = replay.stream(rec, view, answer)
    except RangeNotServed as exc:
        return jsonify(error=str(exc)), 416
    except ReplayBusy:
        busy = jsonify(
            error="回放服务繁忙，请稍后重试 / replay is busy, please try again shortly",
            retry_after_s=replay.settings.retry_after_s,
        )
        return busy, 503, {"Retry-After": str(replay.settings.retry_after_s)}
    except StorageError as exc:
        return jsonify(error=f"档案存储暂不可用 / archive storage unavailable: {exc}"), 503
    resp = Response(stream_with_context(body), status=answer.status, mimetype="video/mp4", headers=answer.headers())
    resp.headers["Cache-Control"] = "no-store"
    return resp
