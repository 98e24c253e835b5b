"""The branch admin's page in headless Chromium: a supplementary recording approved with a reason, a file
that is not a video refused with its message, and a real recording imported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.db.models import Clip
from tests.branch_agent.web.harness import ADMIN, RM_A, Agent
from tests.branch_agent.web.test_clip_import import make_mp4
from tests.test_supplementary_and_import import _supplementary_at_branch

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.headless_chromium import save_screenshot as _shot
from tests.http_serving import serving

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
WAIT_S = 30


@pytest.fixture()
def served(agent_without_cameras: Agent) -> Iterator[str]:
    with serving(agent_without_cameras.app, threads=4) as url:
        yield url


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=ignored).until(
        lambda d: condition(d), message=what
    )


def _fill(driver: WebDriver, name: str, value: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, f'#import_form [name="{name}"]')
    field.clear()
    field.send_keys(value)


def test_the_admin_approves_and_imports_in_the_browser(
    served: str, agent_without_cameras: Agent, tmp_path: Path
) -> None:
    agent = agent_without_cameras
    clip_id = _supplementary_at_branch(
        agent, "SN-BROWSER-S", datetime.now(UTC) - timedelta(days=1), make_mp4(tmp_path / "s.mp4")
    )
    with headless_chromium(1366, 900) as d:
        d.get(served + "/")
        _wait(d, lambda d: d.find_element(By.ID, "login_card").is_displayed(), "login card")
        d.find_element(By.ID, "staff_code").send_keys(ADMIN.code)
        d.find_element(By.ID, "password").send_keys(ADMIN.password)
        d.find_element(By.ID, "login_btn").click()
        _wait(d, lambda d: d.current_url.endswith("/admin"), "admin page")
        row = f'#supp_rows tr[data-clip="{clip_id}"]'
        _wait(d, lambda d: "待审批" in d.find_element(By.CSS_SELECTOR, row).text, "supplementary recording listed")
        assert "SN-BROWSER-S" in d.find_element(By.CSS_SELECTOR, row).text
        d.find_element(By.CSS_SELECTOR, f"{row} [data-decide=approved]").click()
        _wait(d, lambda d: "请填写审批意见" in d.find_element(By.ID, "supp_result").text, "reason asked for")
        d.find_element(By.CSS_SELECTOR, f"{row} .supp-reason").send_keys("已核对销售凭证")
        d.find_element(By.CSS_SELECTOR, f"{row} [data-decide=approved]").click()
        _wait(d, lambda d: "已批准" in d.find_element(By.CSS_SELECTOR, row).text, "approved")
        _shot(d, "admin-supplementary-approved")

        local = (datetime.now(agent.svc.tz) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#imp_product option")) == 1, "products loaded")
        for name, value in (
            ("business_serial", "SN-BROWSER-I"),
            ("customer_name", "张三"),
            ("id_number", "11010519491231002X"),
            ("card_number", "6222021234567890128"),
            ("staff_code", RM_A.code),
            ("device", "备用摄像机"),
            ("reason", "双录设备故障"),
        ):
            _fill(d, name, value)
        # datetime-local takes the value set by script in every locale.
        d.execute_script('document.querySelector("#import_form [name=recorded_at]").value = arguments[0]', local)
        Select(d.find_element(By.ID, "imp_counter")).select_by_index(0)
        d.find_element(By.CSS_SELECTOR, '#import_form [name="consent"]').click()
        not_video = tmp_path / "scan.mp4"
        not_video.write_bytes("扫描件".encode() * 500)
        d.find_element(By.CSS_SELECTOR, '#import_form [name="file"]').send_keys(str(not_video))
        d.find_element(By.ID, "imp_submit").click()
        _wait(d, lambda d: "不是可播放的MP4录像" in d.find_element(By.ID, "imp_result").text, "not-a-video message")
        assert "not a playable MP4" in d.find_element(By.CSS_SELECTOR, '[data-err="file"]').text
        _shot(d, "admin-import-refused")

        video = tmp_path / "phone.mp4"
        make_mp4(video)
        d.find_element(By.CSS_SELECTOR, '#import_form [name="file"]').send_keys(str(video))
        d.find_element(By.ID, "imp_submit").click()
        _wait(d, lambda d: "已导入" in d.find_element(By.ID, "imp_result").text, "imported")
        _shot(d, "admin-import-done")
    with agent.svc.sessions() as db:
        assert db.execute(select(Clip.business_serial).where(Clip.business_serial == "SN-BROWSER-I")).scalar_one()
