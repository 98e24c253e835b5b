"""A compliance officer in headless Chromium opens the center's player on an analysed sale: the
marked moments are chapters, a click on one puts the video there, and the findings and the camera's
drop-out are on the timeline under the video, where a click jumps too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from center_platform.archive.clip_quality import quality_work_dir, run_quality_checks
from center_platform.config import QualitySection
from tests.center_platform.archive.quality_media import cjk_font_path, record_sale
from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig, upload_clip  # noqa: F401
from tests.center_platform.ingest.quality_clips import quality_manifest, require

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium, save_screenshot
from tests.http_serving import serving

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
WAIT_S = 30


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'center.db'}"  # the browser, not the database, is under test here


@pytest.fixture()
def center_url(archive_rig: ArchiveRig) -> Iterator[str]:
    with serving(archive_rig.app, threads=4) as url:
        yield url


def _until(driver: WebDriver, script: str, what: str, *args: object) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(
        lambda d: d.execute_script(script, *args), message=what
    )


def _current_time(driver: WebDriver) -> float:
    return float(driver.execute_script("return document.getElementById('player').currentTime"))


def test_chapters_jump_and_findings_are_on_the_timeline(
    archive_rig: ArchiveRig, center_url: str, tmp_path: Path
) -> None:
    require(archive_rig, ["风险揭示", "客户确认", "签字"])
    media = record_sale(tmp_path / "sale.mp4", cjk_font_path())
    manifest = quality_manifest(
        archive_rig.key,
        media,
        duration_ms=8000,
        markers=[("risk_disclosed", 2000), ("customer_confirmed", 6000)],
        gaps=[("desk-cam", 3000, 1500)],
    )
    assert upload_clip(archive_rig.branch_client(), manifest, media)["state"] == "verified"
    run = run_quality_checks(
        archive_rig.sessions, archive_rig.store, QualitySection(), quality_work_dir(archive_rig.config)
    )
    assert run.checked == {manifest.clip_id: "fail"}  # 签字 was never marked

    with headless_chromium(1366, 900) as browser:
        browser.get(f"{center_url}/recordings")
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
        browser.find_element(By.NAME, "username").send_keys("compliance")
        password = browser.find_element(By.NAME, "password")
        password.send_keys(USER_PASSWORD)
        password.submit()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.NAME, "business_serial"), "signed in")

        browser.get(f"{center_url}/recordings/{manifest.clip_id}")
        _until(browser, "const v = document.getElementById('player'); return v && v.readyState >= 1;", "metadata")
        try:
            chapters = browser.find_elements(By.CSS_SELECTOR, "button.chapter")
            assert [c.text for c in chapters] == ["00:02 风险揭示 Risk disclosed", "00:06 客户确认 Customer confirmed"]
            assert "不合格 fail" in browser.find_element(By.ID, "quality-verdict").text

            chapters[1].click()
            _until(browser, "return Math.abs(document.getElementById('player').currentTime - 6) < 0.05;", "jump to 6 s")
            chapters[0].click()
            _until(browser, "return Math.abs(document.getElementById('player').currentTime - 2) < 0.05;", "jump to 2 s")

            # The missing moment spans the clip; the drop-out lies from 3 to 4.5 s of the 8.
            missing = browser.find_element(By.CSS_SELECTOR, ".tl-finding[data-code='marker_missing']")
            assert missing.is_displayed()
            title = missing.get_attribute("title") or ""
            assert title.index("缺少必录环节「签字」") < title.index("required moment “签字” is missing")
            lane = browser.find_element(By.CSS_SELECTOR, ".tl-lane[data-lane='marker_missing']")
            assert missing.size["width"] >= lane.size["width"] * 0.95
            drop = browser.find_element(By.CSS_SELECTOR, ".tl-finding[data-code='gap']")
            main = browser.find_element(By.CSS_SELECTOR, ".tl-lane.tl-main")
            left = (drop.location["x"] - main.location["x"]) / main.size["width"]
            assert 0.33 < left < 0.42 and 0.15 < drop.size["width"] / main.size["width"] < 0.22

            drop.click()
            _until(browser, "return Math.abs(document.getElementById('player').currentTime - 3) < 0.05;", "jump to 3 s")
        except Exception:
            save_screenshot(browser, "center-player-sale")
            raise
