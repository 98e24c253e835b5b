"""One alert model for everything operations watches: devices, picture quality, disks, upload backlogs,
late heartbeats, chain gaps, quarantines and failed checks.

Whoever watches something (a heartbeat arriving, the periodic sweep) reports what it sees now as a list
of `Condition`s within its `Scope`. An alert is raised only when its condition was seen `raise_after`
times in a row, and cleared by the system only when it was absent `clear_after` times in a row, so a
flapping camera does not page anybody twice a minute. There is one open alert per (kind, subject); a
condition seen again only counts up its occurrences. Every raise, acknowledgement and clearance is in
the audit trail and queued for the configured webhooks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.audit import trail as audit
from center_platform.db.operations_models import Alert

# The kinds, with what the center UI calls them (Chinese first).
KIND_LABELS: Final[dict[str, str]] = {
    "device_offline": "设备离线 / device offline",
    "device_degraded": "设备异常 / device degraded",
    "picture": "画面异常 / picture fault",
    "disk_low": "磁盘不足 / disk low",
    "backlog": "上传积压 / upload backlog",
    "heartbeat_late": "心跳超时 / heartbeat late",
    "chain_gap": "链断档 / chain gap",
    "quarantine": "隔离 / quarantine",
    "check_failed": "检查失败 / failed check",
    "config_refused": "集中配置被拒 / central configuration refused",
    "branch_reported": "网点告警 / reported by the branch",
}
STATE_LABELS: Final[dict[str, str]] = {
    "raised": "已告警 / raised",
    "acknowledged": "已确认 / acknowledged",
    "cleared": "已解除 / cleared",
}
Severity = Literal["warning", "critical"]
OPEN_STATES: Final = ("pending", "raised", "acknowledged")
SYSTEM: Final = "system"


@dataclass(frozen=True)
class Condition:
    """Something wrong now: `subject` names what (e.g. "B001/C01/environment"), unique within its kind."""

    kind: str
    subject: str
    message: str
    branch_id: int | None = None
    severity: Severity = "warning"


@dataclass(frozen=True)
class Scope:
    """What one observer looks at: these kinds, for subjects starting with `prefix` ("" for all). An
    open alert in scope whose condition the observer no longer reports counts one miss."""

    kinds: frozenset[str]
    prefix: str = ""

    def covers(self, alert: Alert) -> bool:
        return alert.kind in self.kinds and alert.subject.startswith(self.prefix)


@dataclass(frozen=True)
class Debounce:
    raise_after: int = 2
    clear_after: int = 2


@dataclass(frozen=True)
class Transition:
    """An alert changed state: what the webhooks are told."""

    alert_id: int
    event: Literal["raised", "acknowledged", "cleared"]
    kind: str
    subject: str
    severity: str
    message: str
    occurrences: int
    at: datetime
    by: str


class AlertError(Exception):
    """A user's request on an alert that cannot be done; the message is Chinese, then English."""


# Called with each transition inside the same transaction (the webhook outbox is written with it).
OnTransition = Callable[[Session, Transition], None]


def _open_key(kind: str, subject: str) -> str:
    return f"{kind}|{subject}"[:240]


def _transition(
    db: Session,
    alert: Alert,
    event: Literal["raised", "acknowledged", "cleared"],
    by: str,
    at: datetime,
    on_transition: OnTransition | None,
) -> None:
    audit.append(
        db,
        by,
        f"alert.{event}",
        f"alert:{alert.id}",
        {"kind": alert.kind, "subject": alert.subject, "message": alert.message, "occurrences": alert.occurrences},
    )
    if on_transition is not None:
        on_transition(
            db,
            Transition(
                alert.id, event, alert.kind, alert.subject, alert.severity, alert.message, alert.occurrences, at, by
            ),
        )


def observe(
    db: Session,
    scope: Scope,
    conditions: list[Condition],
    now: datetime,
    debounce: Debounce,
    on_transition: OnTransition | None = None,
) -> list[Transition]:
    """Applies one observation. The caller commits; transitions are returned for logging."""
    seen: list[Transition] = []

    def note(db: Session, t: Transition) -> None:
        seen.append(t)
        if on_transition is not None:
            on_transition(db, t)

    wanted = {_open_key(c.kind, c.subject): c for c in conditions if c.kind in scope.kinds}
    open_alerts = (
        db.execute(
            select(Alert).where(
                Alert.open_key.is_not(None),
                Alert.kind.in_(sorted(scope.kinds)),
                Alert.subject.startswith(scope.prefix, autoescape=True),
            )
        )
        .scalars()
        .all()
    )
    by_key = {a.open_key: a for a in open_alerts}
    for key, cond in wanted.items():
        alert = by_key.get(key)
        if alert is None:
            alert = Alert(
                kind=cond.kind,
                subject=cond.subject,
                open_key=key,
                branch_id=cond.branch_id,
                severity=cond.severity,
                state="pending",
                message=cond.message,
                occurrences=1,
                misses=0,
                first_seen_at=now,
                last_seen_at=now,
                note="",
            )
            db.add(alert)
            db.flush()
        else:
            alert.occurrences += 1
            alert.misses = 0
            alert.last_seen_at = now
            alert.message = cond.message
            alert.severity = cond.severity
        if alert.state == "pending" and alert.occurrences >= debounce.raise_after:
            alert.state = "raised"
            alert.raised_at = now
            _transition(db, alert, "raised", SYSTEM, now, note)
    for alert in open_alerts:
        if alert.open_key in wanted or not scope.covers(alert):
            continue
        alert.misses += 1
        if alert.state == "pending":
            # Seen fewer times than it takes to raise, then gone: a blip, forgotten without a trace.
            db.delete(alert)
        elif alert.misses >= debounce.clear_after:
            _clear(db, alert, SYSTEM, now, note)
    return seen


def _clear(db: Session, alert: Alert, by: str, now: datetime, on_transition: OnTransition | None) -> None:
    alert.state = "cleared"
    alert.open_key = None
    alert.cleared_at = now
    alert.cleared_by = by
    _transition(db, alert, "cleared", by, now, on_transition)


def acknowledge(
    db: Session, alert_id: int, actor: str, note: str, now: datetime, on_transition: OnTransition | None = None
) -> Alert:
    """Somebody is on it: the alert stays open (and is cleared when its condition goes away)."""
    alert = db.get(Alert, alert_id)
    if alert is None or alert.state == "pending":
        raise AlertError("告警不存在 / no such alert")
    if alert.state != "raised":
        raise AlertError(f"告警已是{STATE_LABELS[alert.state]}，无法确认 / only a raised alert can be acknowledged")
    alert.state = "acknowledged"
    alert.acknowledged_at = now
    alert.acknowledged_by = actor
    alert.note = note[:2000]
    _transition(db, alert, "acknowledged", actor, now, on_transition)
    return alert


def clear(
    db: Session, alert_id: int, actor: str, note: str, now: datetime, on_transition: OnTransition | None = None
) -> Alert:
    """Closed by hand (the condition was fixed, or is accepted); if it persists it is raised anew."""
    alert = db.get(Alert, alert_id)
    if alert is None or alert.state == "pending":
        raise AlertError("告警不存在 / no such alert")
    if alert.state == "cleared":
        raise AlertError("告警已解除 / the alert is already cleared")
    if note:
        alert.note = note[:2000]
    _clear(db, alert, actor, now, on_transition)
    return alert


def list_alerts(db: Session, include_cleared: bool, limit: int = 200) -> list[Alert]:
    """Open alerts first (newest raised first), then, if asked, the most recently cleared."""
    shown = ["raised", "acknowledged"] + (["cleared"] if include_cleared else [])
    rows = (
        db.execute(
            select(Alert)
            .where(Alert.state.in_(shown))
            .order_by(Alert.cleared_at.is_not(None), Alert.raised_at.desc(), Alert.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
    return list(rows)


def alert_json(a: Alert) -> dict[str, object]:
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "id": a.id,
        "kind": a.kind,
        "kind_label": KIND_LABELS.get(a.kind, a.kind),
        "subject": a.subject,
        "severity": a.severity,
        "state": a.state,
        "message": a.message,
        "occurrences": a.occurrences,
        "first_seen_at": iso(a.first_seen_at),
        "last_seen_at": iso(a.last_seen_at),
        "raised_at": iso(a.raised_at),
        "acknowledged_at": iso(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "cleared_at": iso(a.cleared_at),
        "cleared_by": a.cleared_by,
        "note": a.note,
    }
