"""A compliance officer in headless Chromium: sign in, search, replay a real H.264/AAC clip, export the
evidence package and check it with its own verify.py. Screenshots go to var/test-screenshots/."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from center_platform.db.models import Recording
from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig  # noqa: F401

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.headless_chromium import save_screenshot as _shot
from tests.http_serving import serving

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER and FFMPEG), reason=f"{MISSING_REASON}; ffmpeg too")
WAIT_S = 30


def playable_mp4(path: Path) -> bytes:
    """Four seconds of test pattern and tone, H.264 + AAC, moov first: what a browser plays."""
    subprocess.run(
        [
            str(FFMPEG),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


@pytest.fixture()
def live_center(archive_rig: ArchiveRig) -> Iterator[str]:
    with serving(archive_rig.app, threads=8) as url:
        yield url


@pytest.fixture()
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture()
def browser(downloads: Path) -> Iterator[WebDriver]:
    with headless_chromium(1366, 900, downloads) as driver:
        yield driver


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def _downloaded_zip(folder: Path) -> Path:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.zip") if not p.name.endswith(".crdownload")]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no package was downloaded into {folder}: {[p.name for p in folder.iterdir()]}")


def test_search_replay_export_in_the_browser(
    archive_rig: ArchiveRig,
    live_center: str,
    browser: WebDriver,
    downloads: Path,
    tmp_path: Path,
) -> None:
    media = playable_mp4(tmp_path / "clip.mp4")
    archive_rig.archive(customer_name="张三")  # another clip the search must leave out
    clip_id = archive_rig.archive(media=media, customer_name="王小明", business_serial="SN-BROWSER-1")

    browser.get(f"{live_center}/recordings")
    _wait(browser, lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
    browser.find_element(By.NAME, "username").send_keys("compliance")
    password = browser.find_element(By.NAME, "password")
    password.send_keys(USER_PASSWORD)
    password.submit()

    serial = _wait(browser, lambda d: d.find_element(By.NAME, "business_serial"), "the search form")
    serial.send_keys("SN-BROWSER-1")
    serial.submit()
    replay = f"a[href$='/recordings/{clip_id}']"
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, replay), "the clip in the result list")
    assert "张三" not in browser.find_element(By.TAG_NAME, "table").text
    _shot(browser, "center_search")
    browser.find_element(By.CSS_SELECTOR, replay).click()

    _wait(browser, lambda d: d.find_elements(By.ID, "player"), "the player page")
    browser.execute_script("const v = document.getElementById('player'); v.muted = true; v.play();")
    _wait(
        browser, lambda d: d.execute_script("return document.getElementById('player').readyState") >= 2, "decoded video"
    )
    _wait(
        browser,
        lambda d: d.execute_script("return document.getElementById('player').currentTime") > 1.0,
        "playback advancing",
    )
    assert browser.execute_script("return document.getElementById('player').error") is None
    browser.execute_script("document.getElementById('player').pause();")
    _shot(browser, "center_player")

    browser.find_element(By.ID, "export-button").click()
    package = _downloaded_zip(downloads)
    folder = tmp_path / "package"
    with zipfile.ZipFile(package) as zf:
        zf.extractall(folder)
    assert (folder / f"{clip_id}.mp4").read_bytes() == media
    result = subprocess.run(
        [sys.executable, "-I", "-S", "verify.py"], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: PASS" in result.stdout
    # The one viewing and the export are both on the record.
    assert "replay" in (folder / "audit.jsonl").read_text(encoding="utf-8")

    # A dispute opened on the player page puts the clip under legal hold, in the archive too.
    _wait(browser, lambda d: d.find_elements(By.ID, "retention"), "the retention panel on the player page")
    browser.find_element(By.NAME, "reference").send_keys("CASE-2026-001")
    reason = browser.find_element(By.NAME, "reason")
    reason.send_keys("客户投诉未充分揭示风险")
    reason.submit()
    _wait(browser, lambda d: d.find_elements(By.ID, "legal-hold"), "the legal hold shown")
    assert "CASE-2026-001" in browser.find_element(By.ID, "disputes").text
    _shot(browser, "center_dispute")
    with archive_rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
    assert archive_rig.store.head(rec.object_key, rec.version_id).legal_hold is True
