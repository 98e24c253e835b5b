"""``python -m center_platform quality-check [--clip ID]``: the media analysis of archived clips on
demand, as the scheduled job does it (one runner at a time, the same limits)."""

from __future__ import annotations

import argparse
from typing import Any

from center_platform.archive.clip_quality import ClipNotFound, quality_work_dir, run_quality_checks
from center_platform.config import CenterConfig


def cmd_quality_check(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.cli import CommandError, _sessions, open_store

    cfg = config.quality
    if args.limit is not None:
        cfg = cfg.model_copy(update={"max_clips_per_run": args.limit})
    try:
        with open_store(config) as store:
            run = run_quality_checks(_sessions(config), store, cfg, quality_work_dir(config), clip_id=args.clip)
    except ClipNotFound as exc:
        raise CommandError(str(exc)) from exc
    if run.busy:
        print("another quality check holds the lock; nothing done")
        return 1
    for clip_id, verdict in run.checked.items():
        print(f"{clip_id}: {verdict}")
    for clip_id, why in run.failed.items():
        print(f"{clip_id}: not checked: {why}")
    print(f"{len(run.checked)} checked, {len(run.failed)} failed")
    return 1 if run.failed else 0


def register(sub: Any) -> None:
    p = sub.add_parser("quality-check", help="analyse archived clips without a quality report (or one clip again)")
    p.add_argument("--clip", help="this clip only, even if it has a report already")
    p.add_argument("--limit", type=int, help="at most this many clips (default: quality.max_clips_per_run)")
    p.set_defaults(fn=cmd_quality_check)
