"""A whole sale in headless Chromium against the real agent with simulated cameras, screenshots saved.

Sign in (once wrong), the form (once wrong, nothing lost), start, live preview, a marker, complete
with confirmation, replay that plays and seeks, then the branch admin's page and a camera failure as
both screens show it. The screenshots go to var/test-screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.branch_agent.web.harness import ADMIN, COUNTER, GOOD_SALE, PRODUCT, RM_A, Agent

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, SCREENSHOT_DIR, headless_chromium
from tests.headless_chromium import save_screenshot as _shot

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
WAIT_S = 30


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    with headless_chromium(1366, 768) as driver:
        yield driver


def _wait(driver: WebDriver, condition, what: str):  # type: ignore[no-untyped-def]
    # Pages navigate (sign-out) and re-render tables while polling: a vanished element means "not yet".
    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=ignored).until(
        lambda d: condition(d), message=what
    )


def _visible(driver: WebDriver, element_id: str) -> bool:
    return bool(driver.find_element(By.ID, element_id).is_displayed())


def _sign_in(driver: WebDriver, code: str, password: str) -> None:
    driver.find_element(By.ID, "staff_code").clear()
    driver.find_element(By.ID, "staff_code").send_keys(code)
    driver.find_element(By.ID, "password").clear()
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login_btn").click()


def _field_error(driver: WebDriver, field: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f'#sale_form .field[data-field="{field}"] .err').text)


@pytest.mark.slow
def test_a_whole_sale_in_the_browser(live_agent: str, agent: Agent, browser: WebDriver) -> None:
    d = browser
    print(f"\nscreenshots: {SCREENSHOT_DIR}")
    d.get(live_agent + "/")
    _wait(d, lambda d: _visible(d, "login_card"), "login card")
    _sign_in(d, RM_A.code, "wrong-password")
    _wait(d, lambda d: "密码错误" in d.find_element(By.ID, "login_err").text, "wrong-password message")
    _shot(d, "01-login-wrong-password")
    _sign_in(d, RM_A.code, RM_A.password)
    _wait(d, lambda d: _visible(d, "form_panel"), "sale form after sign-in")
    _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#product_code option")) == 2, "catalogue loaded")

    # The form with one wrong field: its message appears, and nothing typed is lost.
    d.find_element(By.ID, "gen_serial").click()
    _wait(d, lambda d: d.find_element(By.ID, "business_serial").get_attribute("value"), "generated serial")
    serial = d.find_element(By.ID, "business_serial").get_attribute("value")
    d.find_element(By.ID, "customer_name").send_keys(GOOD_SALE["customer_name"])
    d.find_element(By.ID, "id_number").send_keys(GOOD_SALE["id_number"])
    d.find_element(By.ID, "card_number").send_keys("6222021234567890129")
    d.find_element(By.CSS_SELECTOR, f'#product_code option[value="{PRODUCT.code}"]').click()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: "Luhn" in _field_error(d, "card_number"), "card number error")
    assert "客户未同意" in _field_error(d, "consent")
    assert _field_error(d, "customer_name") == "" and _field_error(d, "id_number") == ""
    assert d.find_element(By.ID, "customer_name").get_attribute("value") == GOOD_SALE["customer_name"]
    assert d.find_element(By.ID, "id_number").get_attribute("value") == GOOD_SALE["id_number"]
    assert d.find_element(By.ID, "business_serial").get_attribute("value") == serial
    assert "期限 term 180" in d.find_element(By.ID, "product_info").text
    _shot(d, "02-sale-form-errors")

    card = d.find_element(By.ID, "card_number")
    card.clear()
    card.send_keys(GOOD_SALE["card_number"])
    d.find_element(By.ID, "consent").click()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: _visible(d, "rec_panel"), "recording screen")
    assert agent.svc.counters[COUNTER].active_clip is not None
    assert "投资须谨慎" in d.find_element(By.ID, "prompter_text").text
    # The live preview is a real picture of the composite, refreshed while recording.
    _wait(
        d, lambda d: d.execute_script("return document.getElementById('preview').naturalWidth") == 640, "live preview"
    )
    first_src = d.find_element(By.ID, "preview").get_attribute("src")
    _wait(d, lambda d: d.find_element(By.ID, "preview").get_attribute("src") != first_src, "preview refreshes")
    _wait(d, lambda d: d.find_element(By.ID, "timer").text not in ("00:00", ""), "running timer")

    d.find_element(By.CSS_SELECTOR, '[data-marker="risk_disclosed"]').click()
    _wait(
        d,
        lambda d: "✓" in d.find_element(By.CSS_SELECTOR, '[data-marker="risk_disclosed"]').text,
        "marker acknowledged",
    )
    _wait(d, lambda d: d.find_element(By.ID, "timer").text >= "00:03", "a few seconds recorded")
    _shot(d, "03-recording")

    d.find_element(By.ID, "complete_btn").click()
    _wait(d, lambda d: _visible(d, "dlg_complete"), "completion confirmation")
    assert "客户已确认" in d.find_element(By.ID, "complete_missing").text  # unmarked steps are pointed out
    _shot(d, "04-complete-confirmation")
    d.find_element(By.ID, "complete_yes").click()
    _wait(
        d,
        lambda d: _visible(d, "form_panel") and len(d.find_elements(By.CSS_SELECTOR, "#clips tr")) == 1,
        "clip listed",
    )
    assert agent.svc.counters[COUNTER].active_clip is None
    assert d.find_element(By.ID, "customer_name").get_attribute("value") == ""  # ready for the next customer
    assert serial in d.find_element(By.ID, "clips").text

    # Replay in the page: it plays, and it seeks (by HTTP Range) to a point it has not downloaded yet.
    d.find_element(By.CSS_SELECTOR, "#clips tr button").click()
    _wait(d, lambda d: _visible(d, "dlg_player"), "player")
    _wait(
        d,
        lambda d: d.execute_script(
            "const v = document.getElementById('player'); return v.readyState >= 2 && v.currentTime > 0.2"
        ),
        "video plays",
    )
    duration = d.execute_script("return document.getElementById('player').duration")
    assert duration >= 3
    d.execute_script(
        """const v = document.getElementById('player'); v.pause(); window.__seeked = false;
                        v.addEventListener('seeked', () => { window.__seeked = true; }, {once: true}); v.currentTime = arguments[0];""",
        duration - 1.0,
    )
    _wait(d, lambda d: d.execute_script("return window.__seeked"), "seek done")
    assert abs(d.execute_script("return document.getElementById('player').currentTime") - (duration - 1.0)) < 0.5
    assert d.execute_script("return document.getElementById('player').error") is None
    _shot(d, "05-replay")
    d.find_element(By.ID, "player_close").click()

    # A second sale: the page is reloaded mid-recording and picks the clip up again; then it is
    # cancelled, which needs a reason.
    d.find_element(By.ID, "gen_serial").click()
    _wait(d, lambda d: d.find_element(By.ID, "business_serial").get_attribute("value"), "generated serial")
    for field in ("customer_name", "id_number", "card_number"):
        d.find_element(By.ID, field).send_keys(GOOD_SALE[field])
    d.find_element(By.CSS_SELECTOR, f'#product_code option[value="{PRODUCT.code}"]').click()
    d.find_element(By.ID, "consent").click()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: _visible(d, "rec_panel"), "second recording")
    d.refresh()
    _wait(
        d,
        lambda d: _visible(d, "rec_panel") and "张三" in d.find_element(By.ID, "rec_summary").text,
        "recording resumed after reload",
    )
    assert "投资须谨慎" in d.find_element(By.ID, "prompter_text").text
    d.find_element(By.ID, "cancel_btn").click()
    _wait(d, lambda d: _visible(d, "dlg_cancel"), "cancel dialog")
    d.find_element(By.ID, "cancel_yes").click()
    _wait(d, lambda d: "取消原因" in d.find_element(By.ID, "cancel_err").text, "a reason is required")
    assert agent.svc.counters[COUNTER].active_clip is not None
    d.find_element(By.CSS_SELECTOR, "#cancel_reason_pick option:nth-child(2)").click()
    _shot(d, "05b-cancel-with-reason")
    d.find_element(By.ID, "cancel_yes").click()
    _wait(d, lambda d: _visible(d, "form_panel") and not _visible(d, "dlg_cancel"), "back to the form after cancelling")
    assert agent.svc.counters[COUNTER].active_clip is None
    assert len(d.find_elements(By.CSS_SELECTOR, "#clips tr")) == 1  # nothing kept of the cancelled sale

    # The branch admin's page.
    d.find_element(By.ID, "logout_btn").click()
    _wait(d, lambda d: _visible(d, "login_card"), "signed out")
    _sign_in(d, ADMIN.code, ADMIN.password)
    _wait(d, lambda d: d.current_url.endswith("/admin"), "admin page")
    _wait(
        d,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#clips tr")) == 1
            and "1 段待上传" in d.find_element(By.ID, "queue_count").text
        ),
        "admin clip list and queue",
    )
    assert re.search(r"剩余约 \d+ 天|一年以上", d.find_element(By.ID, "days_left").text)
    listed = d.find_element(By.ID, "clips").text
    assert "622202*********0128" in listed and GOOD_SALE["card_number"] not in listed
    _wait(
        d,
        lambda d: (
            d.execute_script("const i = document.querySelector('#counters img'); return i && i.naturalWidth") == 640
        ),
        "admin thumb",
    )
    _shot(d, "06-admin")

    # A camera fails: the admin's banner names it at once.
    agent.svc.sources[COUNTER].desk.close()
    _wait(d, lambda d: "桌面摄像头" in d.find_element(By.ID, "cam_problems").text, "camera problem on the admin page")
    _shot(d, "07-admin-camera-problem")
    d.find_element(By.ID, "logout_btn").click()
    _wait(d, lambda d: _visible(d, "login_card"), "signed out")
    _sign_in(d, RM_A.code, RM_A.password)
    _wait(
        d,
        lambda d: (
            "桌面摄像头" in d.find_element(By.ID, "cam_problems").text
            and "not connected" in d.find_element(By.ID, "cam_problems").text
        ),
        "camera problem on the counter screen",
    )
    _shot(d, "08-counter-camera-problem")
