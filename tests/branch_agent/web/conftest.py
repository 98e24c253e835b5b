"""Fixtures: the real branch agent, with or without its synthetic cameras, and behind a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from branch_agent.config import ENV_API_SECRET
from tests.branch_agent.web.harness import Agent, seed, start_agent, write_config
from tests.headless_chromium import SCREENSHOT_DIR
from tests.http_serving import serving


@pytest.fixture()
def api_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_API_SECRET, "test-branch-secret")


@pytest.fixture()
def agent_without_cameras(tmp_path: Path, api_secret: None) -> Iterator[Agent]:
    """For sign-in and form tests: the cameras are built but not opened, which saves the CPU."""
    agent = start_agent(write_config(tmp_path), open_sources=False)
    seed(agent.svc)
    yield agent
    agent.svc.close()


@pytest.fixture()
def agent(tmp_path: Path, api_secret: None) -> Iterator[Agent]:
    agent = start_agent(write_config(tmp_path), open_sources=True)
    seed(agent.svc)
    yield agent
    agent.svc.close()


@pytest.fixture()
def live_agent(agent: Agent) -> Iterator[str]:
    """The agent behind a real HTTP server (waitress, as in production) for the browser."""
    with serving(agent.app, threads=8) as url:
        yield url


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOT_DIR.exists() and any(SCREENSHOT_DIR.glob("*.png")):
        terminalreporter.write_line(f"counter UI screenshots: {SCREENSHOT_DIR}")
