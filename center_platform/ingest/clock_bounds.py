"""When a clip really started, as far as the center can tell: the branch's word bounded by the center's clock.

Retention counts from the day of the sale, and that day comes from the branch's clock. A branch clock
that runs slow, or was set back, would shorten retention. The center holds three facts of its own:
when the clip reached it (it cannot have started later), how far the branch's clock stood from the
center's at its last heartbeat (measured by the center: received minus sent), and how long a clip may
plausibly wait at a branch before upload. Where the branch's start time disagrees with them, retention
counts from the latest of the candidates, which only ever lengthens it, and the disagreement is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Network delay and ordinary clock drift: below this nothing is flagged.
TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class ClockFacts:
    started_at: datetime  # the branch's word (manifest)
    received_at: datetime  # when the center registered the upload, by the center's clock
    branch_offset: timedelta | None  # center minus branch clock at the last heartbeat, measured by the center
    max_clip_age: timedelta  # how long a clip may wait at a branch before upload without a flag


@dataclass(frozen=True)
class StartBasis:
    basis: datetime  # what retention counts from
    flags: list[str] = field(default_factory=list)


def start_basis(facts: ClockFacts) -> StartBasis:
    basis = facts.started_at
    flags: list[str] = []
    if facts.started_at > facts.received_at + TOLERANCE:
        flags.append(
            f"the clip claims to start at {facts.started_at.isoformat()}, after it reached the center at "
            f"{facts.received_at.isoformat()}: the branch clock runs fast"
        )
    if facts.branch_offset is not None and abs(facts.branch_offset) > TOLERANCE:
        corrected = facts.started_at + facts.branch_offset
        flags.append(
            f"the branch clock stood {facts.branch_offset.total_seconds():+.0f} s from the center's at its last "
            f"heartbeat; corrected start {corrected.isoformat()}"
        )
        basis = max(basis, corrected)
    floor = facts.received_at - facts.max_clip_age
    if facts.started_at < floor:
        flags.append(
            f"the clip claims to start at {facts.started_at.isoformat()}, more than "
            f"{facts.max_clip_age.days} days before it reached the center"
        )
        basis = max(basis, floor)
    return StartBasis(basis, flags)
