"""A compliance officer in headless Chromium: import a sales ledger, reconcile the day, find the sale
that was not recorded (应录未录), open the report's SVG chart and follow a bar to the clips, export the
recording ledger. Screenshots go to var/test-screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.center_platform.archive_rig import USER_PASSWORD, ArchiveRig, archive_rig  # noqa: F401
from tests.center_platform.reconciliation.ledger_rig import DAY, ledger_csv, resident_id, sale

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.headless_chromium import save_screenshot as _shot
from tests.http_serving import serving

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
WAIT_S = 30
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
# What the page's own fetch of an export link answers: status, type and the body as text.
FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'})
  .then(async r => done([r.status, r.headers.get('Content-Type'), (await r.text()).slice(0, 4000)]))
  .catch(e => done([0, '', String(e)]));
"""


@pytest.fixture()
def live_center(archive_rig: ArchiveRig) -> Iterator[str]:
    with serving(archive_rig.app, threads=4) as url:
        yield url


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def test_reconcile_and_report_in_the_browser(archive_rig: ArchiveRig, live_center: str, tmp_path: Path) -> None:
    clip_id = archive_rig.archive(business_serial="W1", id_type="resident_id", id_number=resident_id(1), started_at=T0)
    ledger = tmp_path / "销售流水.csv"
    ledger.write_bytes(
        ledger_csv([sale("W1", resident_id(1), T0), sale("W2", resident_id(2), T0 + timedelta(hours=1))])
    )

    with headless_chromium(1366, 900) as browser:
        browser.get(f"{live_center}/reconciliation")
        _wait(browser, lambda d: d.find_elements(By.NAME, "password"), "the sign-in page")
        browser.find_element(By.NAME, "username").send_keys("compliance")
        password = browser.find_element(By.NAME, "password")
        password.send_keys(USER_PASSWORD)
        password.submit()

        upload = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#ledger-import input[type=file]"), "import")
        upload.send_keys(str(ledger))
        browser.find_element(By.CSS_SELECTOR, "#ledger-import button[type=submit]").click()
        outcome = _wait(browser, lambda d: d.find_element(By.ID, "import-outcome"), "the import result")
        assert "新增 new 2" in outcome.text.replace("\n", " ")

        day = browser.find_element(By.CSS_SELECTOR, "#reconcile-run input[name=day]")
        browser.execute_script("arguments[0].value = arguments[1];", day, DAY.isoformat())
        browser.find_element(By.CSS_SELECTOR, "#reconcile-run button[type=submit]").click()
        missed = _wait(
            browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#gaps tr[data-kind=missed]"), "the missed sale"
        )
        assert [m.get_attribute("data-serial") for m in missed] == ["W2"]
        assert "应录未录" in missed[0].text
        _shot(browser, "center_reconciliation")

        browser.get(f"{live_center}/reports?day_from={DAY}&day_to={DAY}")
        chart = _wait(browser, lambda d: d.find_element(By.ID, "coverage-chart"), "the coverage chart")
        assert chart.tag_name == "svg"
        bar = chart.find_element(By.CSS_SELECTOR, f"rect.bar[data-label='{DAY}']")
        assert "1/2 = 50.0%" in bar.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        _shot(browser, "center_reports")
        exports = {
            fmt: browser.execute_async_script(FETCH, browser.find_element(By.ID, f"ledger-{fmt}").get_attribute("href"))
            for fmt in ("csv", "pdf")
        }
        bar.click()  # the bar's link: the day's clips in search
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"a[href$='/recordings/{clip_id}']"), "the clip")
        assert "/recordings?" in browser.current_url and "from=2026-11-02" in browser.current_url

    status, content_type, text = exports["csv"]
    assert status == 200 and content_type.startswith("text/csv")
    assert "业务单号 Serial" in text and "W1,B009,C01,1000001" in text and "recorded" in text
    status, content_type, text = exports["pdf"]
    assert status == 200 and content_type == "application/pdf" and text.startswith("%PDF")
