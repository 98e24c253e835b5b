"""A system admin in headless Chromium sets a branch's upload window on the configuration page; a real
branch agent pulls it, and the page shows the version the branch runs; a bad window is refused by the
branch and the page shows why, with the version still running. Screenshots go to var/test-screenshots/."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

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


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def _save_settings(browser: WebDriver, start: str, end: str) -> str:
    for name, value in (("window_start", start), ("window_end", end)):
        field = browser.find_element(By.CSS_SELECTOR, f"#settings input[name={name}]")
        field.clear()
        field.send_keys(value)
    browser.find_element(By.CSS_SELECTOR, "#settings button[type=submit]").click()
    return str(_wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "div.ok[role=status]"), "saved").text)


def test_the_page_shows_the_version_the_branch_runs_or_why_it_refused(
    live_center: LiveCenter, branch_agent_for: Callable[..., Agent]
) -> None:
    agent: Agent = branch_agent_for()
    with headless_chromium(1366, 900) as browser:
        browser.get(f"{live_center.url}/branch-config")
        _wait(browser, lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
        browser.find_element(By.NAME, "username").send_keys("sysadmin")
        password = browser.find_element(By.NAME, "password")
        password.send_keys(CENTER_PASSWORD)
        password.submit()
        row = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-branch={BRANCH_CODE}]"), "branches")
        assert "未集中配置" in row.text
        row.find_element(By.LINK_TEXT, BRANCH_CODE).click()

        saved = _save_settings(browser, "20:30", "06:00")
        assert "版本 1" in saved
        assert browser.find_element(By.CSS_SELECTOR, "#branch_verdict [data-state=unreported]")

        agent.svc.sync_from_center()
        browser.refresh()
        applied = _wait(
            browser, lambda d: d.find_element(By.CSS_SELECTOR, "#branch_verdict [data-state=applied]"), "in effect"
        )
        assert "已生效" in applied.text
        version = browser.find_element(By.CSS_SELECTOR, "#branch_verdict .applied-version")
        assert version.get_attribute("data-applied-version") == "1"
        _shot(browser, "branch-config-applied")

        assert "版本 2" in _save_settings(browser, "07:00", "07:00")
        agent.svc.sync_from_center()
        browser.refresh()
        refused = _wait(
            browser, lambda d: d.find_element(By.CSS_SELECTOR, "#branch_verdict [data-state=refused]"), "refusal"
        )
        assert "已拒绝版本 2" in refused.text and "上传时段为空" in refused.text
        still = browser.find_element(By.CSS_SELECTOR, "#branch_verdict .applied-version")
        assert still.get_attribute("data-applied-version") == "1"
        assert agent.svc.config.upload.window_start == "20:30"
        _shot(browser, "branch-config-refused")

        camera = {"kind": "rtsp", "url": "rtsp://192.0.2.10/main", "username": "viewer", "password_env": "CAM_C01"}
        area = browser.find_element(By.CSS_SELECTOR, "#cameras textarea[name='C01.environment']")
        browser.execute_script("arguments[0].value = arguments[1];", area, json.dumps(camera))
        browser.find_element(By.CSS_SELECTOR, "#cameras button[type=submit]").click()
        proposed = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "div.ok[role=status]"), "proposed").text
        assert "已提交复核" in proposed
        pending = browser.find_element(By.CSS_SELECTOR, "#pending tr[data-change]")
        assert "网点摄像机配置" in pending.text and "等待其他系统管理员复核" in pending.text

        browser.get(f"{live_center.url}/branch-config")
        listed = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"tr[data-branch={BRANCH_CODE}]"), "list")
        assert "已拒绝版本 2" in listed.text and listed.find_element(By.CSS_SELECTOR, "td.version").text == "2"
