"""An operator in headless Chromium watches a branch's devices at the center: a real branch agent's
heartbeats show its cameras (with the latest diagnosis and snapshot), the desk camera going down
raises an alert, the operator acknowledges it, and it clears once the camera is back.
Screenshots go to var/test-screenshots/."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from branch_agent.center_link.heartbeat import send_heartbeat
from center_platform.db.models import AuditEvent
from tests.branch_agent.web.harness import Agent
from tests.live_center import BRANCH_CODE, CENTER_PASSWORD, LiveCenter, branch_agent_for, live_center  # noqa: F401

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.headless_chromium import save_screenshot as _shot

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
WAIT_S = 30
DESK_ALERT = f"tr[data-subject='{BRANCH_CODE}/C01/desk']"


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def _beats(agent: Agent, n: int) -> None:
    for _ in range(n):
        assert send_heartbeat(agent.svc).ok


def _until_pictures(agent: Agent) -> None:
    sources = agent.svc.sources["C01"]
    deadline = time.monotonic() + 20
    while sources.environment.latest_frame() is None or sources.desk.latest_frame() is None:
        assert time.monotonic() < deadline, "the synthetic cameras sent no picture"
        time.sleep(0.05)


def test_device_view_and_an_alert_from_raised_to_acknowledged_to_cleared(
    live_center: LiveCenter, branch_agent_for: Callable[..., Agent]
) -> None:
    agent: Agent = branch_agent_for()
    sources = agent.svc.sources["C01"]
    sources.open()
    try:
        _until_pictures(agent)
        assert agent.svc.diagnosis is not None
        agent.svc.diagnosis.run()  # what the branch would send within minutes: its snapshots included
        sources.desk.close()  # the desk camera's cable pulled
        _beats(agent, 2)

        with headless_chromium(1366, 900) as browser:
            browser.get(f"{live_center.url}/operations/devices")
            _wait(browser, lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
            browser.find_element(By.NAME, "username").send_keys("compliance")
            password = browser.find_element(By.NAME, "password")
            password.send_keys(CENTER_PASSWORD)
            password.submit()
            desk = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "tr[data-device='C01/desk']"), "devices")
            assert desk.get_attribute("data-status") == "offline" and "离线" in desk.text
            env = browser.find_element(By.CSS_SELECTOR, "tr[data-device='C01/environment']")
            assert env.get_attribute("data-status") == "ok" and "synthetic" in env.text
            assert "1 条未解除 open" in browser.find_element(By.ID, "open_alert_count").text
            _shot(browser, "devices-desk-offline")

            env.find_element(By.TAG_NAME, "a").click()
            snapshot = _wait(browser, lambda d: d.find_element(By.ID, "snapshot"), "the device page's snapshot")
            _wait(browser, lambda d: d.execute_script("return arguments[0].naturalWidth", snapshot) == 320, "picture")
            assert "正常 OK" in browser.find_element(By.ID, "diagnosis_findings").text
            history = browser.find_elements(By.CSS_SELECTOR, "#device_history tbody tr")
            assert [h.get_attribute("data-to") for h in history] == ["ok"]

            browser.get(f"{live_center.url}/operations/alerts")
            row = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, DESK_ALERT), "the desk camera's alert")
            assert row.get_attribute("data-state") == "raised" and "设备离线" in row.text
            row.find_element(By.NAME, "note").send_keys("已通知网点 branch told")
            row.find_element(By.CSS_SELECTOR, "button[data-action=acknowledge]").click()
            status = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "p.ok[role=status]"), "acknowledged")
            assert "已确认" in status.text
            row = browser.find_element(By.CSS_SELECTOR, DESK_ALERT)
            assert row.get_attribute("data-state") == "acknowledged" and "compliance" in row.text
            _shot(browser, "alert-acknowledged")

            sources.desk.open()  # the cable back in
            _until_pictures(agent)
            _beats(agent, 2)
            browser.refresh()
            row = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, DESK_ALERT), "the alert after recovery")
            assert row.get_attribute("data-state") == "cleared" and "system" in row.text
            assert not row.find_elements(By.TAG_NAME, "button")
            _shot(browser, "alert-cleared")

            browser.get(f"{live_center.url}/operations/devices")
            assert not browser.find_elements(By.ID, "open_alert_count")
    finally:
        sources.close()
    with live_center.sessions() as db:
        actions = db.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.target.like("device:%"))
        ).all()
        assert ("device.snapshot_viewed", "compliance") in [tuple(a) for a in actions]
