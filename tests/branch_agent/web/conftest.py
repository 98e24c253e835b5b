"""Fixtures: the real branch agent, with or without its synthetic cameras, and behind a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from waitress import create_server

from branch_agent.config import ENV_API_SECRET
from tests.branch_agent.web.harness import Agent, seed, start_agent, write_config
from tests.headless_chromium import SCREENSHOT_DIR


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
    server = create_server(agent.app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOT_DIR.exists() and any(SCREENSHOT_DIR.glob("*.png")):
        terminalreporter.write_line(f"counter UI screenshots: {SCREENSHOT_DIR}")
