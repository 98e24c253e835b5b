"""A compliance officer in headless Chromium replays a clip cut off by a crash: the center's player opens
it, seeks to near its end and plays to the end with a handful of range requests (counted at the server),
not one per fragment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig  # noqa: F401
from tests.replay_clips import FFMPEG, cut_mid_fragment, ffmpeg_clip

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.http_serving import serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER and FFMPEG), reason=f"{MISSING_REASON}; ffmpeg too"),
]
SECONDS = 120  # 120 one-second fragments of 4 Mbit/s: read fragment by fragment, that is a request for each
WAIT_S = 30


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'center.db'}"  # the browser, not the database, is under test here


class MediaRequests:
    """The center app, counting the range requests for clip media as they arrive."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.ranges: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").endswith("/media"):
            self.ranges.append(environ.get("HTTP_RANGE", ""))
        return self.app(environ, start_response)


@pytest.fixture()
def counted_center(archive_rig: ArchiveRig) -> Iterator[tuple[str, MediaRequests]]:
    counter = MediaRequests(archive_rig.app)
    with serving(counter, threads=8) as url:
        yield url, counter


def _until(driver: WebDriver, script: str, what: str) -> Any:
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(lambda d: d.execute_script(script), message=what)


def test_an_interrupted_clip_opens_seeks_near_its_end_and_plays_out_with_few_requests(
    archive_rig: ArchiveRig, counted_center: tuple[str, MediaRequests], tmp_path: Path
) -> None:
    url, counter = counted_center
    clip = tmp_path / "interrupted.mp4"
    cut_mid_fragment(ffmpeg_clip(tmp_path / "complete.mp4", SECONDS, bitrate="4M", grain=True), clip)
    clip_id = archive_rig.archive(media=clip.read_bytes(), customer_name="王小明")

    with headless_chromium(1366, 900) as browser:
        browser.get(f"{url}/recordings")
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
        browser.find_element(By.NAME, "username").send_keys("compliance")
        password = browser.find_element(By.NAME, "password")
        password.send_keys(USER_PASSWORD)
        password.submit()
        WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.NAME, "business_serial"), "signed in")

        browser.get(f"{url}/recordings/{clip_id}")
        duration = _until(
            browser,
            "const v = document.getElementById('player'); return v && v.readyState >= 1 && v.duration;",
            "the clip's metadata",
        )
        opened = len(counter.ranges)
        # The whole clip up to where it was cut off, known without reading it through.
        assert SECONDS - 4 < duration <= SECONDS

        target = duration - 2.5
        browser.execute_script(
            "const v = document.getElementById('player'); v.muted = true; v.currentTime = arguments[0];", target
        )
        _until(browser, "const v = document.getElementById('player'); return !v.seeking && v.readyState >= 2;", "seek")
        seek_requests = len(counter.ranges) - opened
        assert abs(browser.execute_script("return document.getElementById('player').currentTime") - target) < 0.1
        assert opened <= 6, counter.ranges
        assert seek_requests <= 6, counter.ranges

        # Played out to the end: the partial last fragment is no decode error.
        browser.execute_script("document.getElementById('player').play();")
        _until(browser, "return document.getElementById('player').ended;", "playback to the end")
        assert browser.execute_script("return document.getElementById('player').error") is None
