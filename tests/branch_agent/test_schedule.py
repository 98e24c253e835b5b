"""The serve command's background jobs: upload, sync, heartbeat and spool purge, on the configured rhythm."""

from __future__ import annotations

from pathlib import Path

import pytest

from branch_agent.config import ENV_API_SECRET
from branch_agent.schedule import build_scheduler
from tests.branch_agent.web.harness import start_agent, write_config


def test_scheduler_runs_sync_heartbeat_and_daily_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_API_SECRET, "test-branch-secret")
    agent = start_agent(write_config(tmp_path), open_sources=False)
    try:
        jobs = {j.id: j for j in build_scheduler(agent.svc).get_jobs()}
        assert set(jobs) == {"upload", "sync", "heartbeat", "spool_purge"}
        assert jobs["sync"].trigger.interval.total_seconds() == agent.config.center.sync_interval_minutes * 60
        assert jobs["heartbeat"].trigger.interval.total_seconds() == agent.config.center.heartbeat_interval_s == 60
        purge = {f.name: str(f) for f in jobs["spool_purge"].trigger.fields}
        assert (purge["hour"], purge["minute"]) == ("3", "30") and str(
            jobs["spool_purge"].trigger.timezone
        ) == "Asia/Shanghai"
    finally:
        agent.svc.close()
