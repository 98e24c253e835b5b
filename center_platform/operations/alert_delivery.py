"""Alerts to webhooks: an outbox written in the transaction that changes the alert, and a sender that
posts what is due for each webhook as one signed batch and tries again with backoff when it fails.

A receiver checks `X-DR-Signature`: hex HMAC-SHA256, under the webhook's key, of the `X-DR-Timestamp`
header, a dot and the body. Batching is what keeps a bad minute (a branch's WAN down: every camera,
the heartbeat and the backlog at once) to one message per webhook instead of a storm.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.config import AlertsSection, WebhookSection
from center_platform.db.operations_models import AlertDelivery
from center_platform.operations.alerts import KIND_LABELS, OnTransition, Transition

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-DR-Signature"
TIMESTAMP_HEADER = "X-DR-Timestamp"


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _wants(hook: WebhookSection, kind: str) -> bool:
    return not hook.kinds or kind in hook.kinds


def outbox(cfg: AlertsSection) -> OnTransition:
    """What `alerts` calls on each transition: one delivery row per webhook that wants the kind."""

    def enqueue(db: Session, t: Transition) -> None:
        payload = {
            "id": t.alert_id,
            "event": t.event,
            "kind": t.kind,
            "kind_label": KIND_LABELS.get(t.kind, t.kind),
            "subject": t.subject,
            "severity": t.severity,
            "message": t.message,
            "occurrences": t.occurrences,
            "at": t.at.isoformat(),
            "by": t.by,
        }
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        for hook in cfg.webhooks:
            if _wants(hook, t.kind):
                db.add(
                    AlertDelivery(
                        alert_id=t.alert_id,
                        webhook=hook.name,
                        event=t.event,
                        payload_json=text,
                        state="pending",
                        attempts=0,
                        next_attempt_at=t.at,
                        last_error="",
                        created_at=t.at,
                    )
                )

    return enqueue


@dataclass
class DeliveryRound:
    sent: int = 0  # deliveries the receivers accepted
    posts: int = 0  # HTTP requests made
    failed: list[str] = field(default_factory=list)  # "webhook: reason"
    given_up: int = 0


def _post(hook: WebhookSection, body: bytes, now: datetime, timeout_s: float) -> None:
    key = os.environ.get(hook.secret_env, "")
    if not key:
        raise RuntimeError(f"environment variable {hook.secret_env} is not set")
    stamp = str(int(now.timestamp()))
    request = urllib.request.Request(
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(key.encode("utf-8"), stamp, body),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        answer.read()


def _backoff(cfg: AlertsSection, attempts: int) -> timedelta:
    return timedelta(seconds=min(cfg.retry_max_s, cfg.retry_initial_s * 2 ** max(0, attempts - 1)))


def batch_body(rows: list[AlertDelivery], now: datetime) -> bytes:
    alerts = [json.loads(r.payload_json) for r in rows]
    summary = Counter(f"{a['event']}:{a['kind']}" for a in alerts)
    return json.dumps(
        {"sent_at": now.isoformat(), "count": len(alerts), "summary": dict(sorted(summary.items())), "alerts": alerts},
        ensure_ascii=False,
    ).encode("utf-8")


def deliver_due(sessions: sessionmaker[Session], cfg: AlertsSection, now: datetime) -> DeliveryRound:
    """One round: for each webhook, the deliveries due now, oldest first, in one POST."""
    result = DeliveryRound()
    for hook in cfg.webhooks:
        with sessions() as db:
            rows = list(
                db.execute(
                    select(AlertDelivery)
                    .where(
                        AlertDelivery.webhook == hook.name,
                        AlertDelivery.state == "pending",
                        AlertDelivery.next_attempt_at <= now,
                    )
                    .order_by(AlertDelivery.id)
                    .limit(cfg.group_max)
                )
                .scalars()
                .all()
            )
            if not rows:
                continue
            result.posts += 1
            try:
                _post(hook, batch_body(rows, now), now, cfg.timeout_s)
            except (OSError, urllib.error.URLError, RuntimeError) as exc:
                reason = str(exc)[:500] or type(exc).__name__
                result.failed.append(f"{hook.name}: {reason}")
                for r in rows:
                    r.attempts += 1
                    r.last_error = reason
                    if r.attempts >= cfg.max_attempts:
                        r.state = "failed"
                        result.given_up += 1
                    else:
                        r.next_attempt_at = now + _backoff(cfg, r.attempts)
                log.warning("ALERT webhook %s refused %d alerts: %s", hook.name, len(rows), reason)
            else:
                for r in rows:
                    r.attempts += 1
                    r.state = "sent"
                    r.sent_at = now
                    r.last_error = ""
                result.sent += len(rows)
            db.commit()
    return result
