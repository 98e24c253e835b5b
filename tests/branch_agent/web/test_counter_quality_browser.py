"""The counter in headless Chromium with the quality check on: the product's required moments are the
recording's steps, completing without one asks for the reason, the verdict of the clip appears at the
counter a few seconds after Complete with each failure and its time, the RM records the sale again
(the first clip stays), and a customer who refuses to be recorded blocks the sale."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from branch_agent.db.models import Clip, LocalAudit, SyncedProduct
from storage.manifest import ClipManifest
from tests.branch_agent.web.harness import GOOD_SALE, PRODUCT, RM_A, Agent, seed, start_agent, write_config

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.branch_agent.web.test_counter_browser import _field_error, _sign_in, _visible, _wait
from tests.headless_chromium import CHROMEDRIVER, CHROMIUM, MISSING_REASON, headless_chromium
from tests.headless_chromium import save_screenshot as _shot
from tests.http_serving import serving

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=MISSING_REASON)
STEPS = ["风险揭示", "产品介绍", "客户确认"]
VERDICT_WAIT_S = 180  # the check's child process loads its models first; the machine may be busy


@pytest.fixture()
def checking_agent(tmp_path: Path, api_secret: None) -> Iterator[Agent]:
    agent = start_agent(write_config(tmp_path, quality=True), open_sources=True)
    seed(agent.svc)
    with agent.svc.sessions() as db:
        product = db.execute(select(SyncedProduct).where(SyncedProduct.code == PRODUCT.code)).scalar_one()
        product.required_markers = json.dumps(STEPS, ensure_ascii=False)
        db.commit()
    yield agent
    agent.svc.close()


@pytest.fixture()
def live_checking_agent(checking_agent: Agent) -> Iterator[str]:
    with serving(checking_agent.app, threads=8) as url:
        yield url


@pytest.fixture()
def browser() -> Iterator[WebDriver]:
    with headless_chromium(1366, 900) as driver:
        yield driver


def _fill_sale(d: WebDriver, serial: str) -> None:
    d.find_element(By.ID, "business_serial").clear()
    d.find_element(By.ID, "business_serial").send_keys(serial)
    for field in ("customer_name", "id_number", "card_number"):
        d.find_element(By.ID, field).clear()
        d.find_element(By.ID, field).send_keys(GOOD_SALE[field])
    d.find_element(By.CSS_SELECTOR, f'#product_code option[value="{PRODUCT.code}"]').click()


@pytest.mark.slow
def test_steps_reason_verdict_and_a_second_take_at_the_counter(
    live_checking_agent: str, checking_agent: Agent, browser: WebDriver
) -> None:
    d = browser
    d.get(live_checking_agent + "/")
    _wait(d, lambda d: _visible(d, "login_card"), "login card")
    _sign_in(d, RM_A.code, RM_A.password)
    _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#product_code option")) == 2, "catalogue loaded")

    # The customer refuses: the sale is blocked, and the refusal is on the audit trail.
    _fill_sale(d, "SN-REFUSED-1")
    d.find_element(By.ID, "refuse_btn").click()
    _wait(d, lambda d: _visible(d, "dlg_refuse"), "refusal confirmation")
    d.find_element(By.ID, "refuse_yes").click()
    _wait(d, lambda d: "不得办理" in d.find_element(By.ID, "form_err").text, "sale blocked")
    with checking_agent.svc.sessions() as db:
        refused = db.execute(select(LocalAudit).where(LocalAudit.action == "sale.recording_refused")).scalar_one()
    assert refused.target == "SN-REFUSED-1" and checking_agent.svc.counters["C01"].active_clip is None

    # The product's three moments are the steps; only the first two are marked.
    _fill_sale(d, "SN-STEPS-1")
    d.find_element(By.ID, "consent").click()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: _visible(d, "rec_panel"), "recording screen")
    _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#steps button")) == 3, "three steps")
    steps = d.find_elements(By.CSS_SELECTOR, "#steps button")
    assert [b.text for b in steps] == ["1. 风险揭示", "2. 产品介绍", "3. 客户确认"]
    assert [li.text for li in d.find_elements(By.CSS_SELECTOR, "#prompter_steps li")] == [b.text for b in steps]
    for n in (0, 1):
        d.find_elements(By.CSS_SELECTOR, "#steps button")[n].click()
        _wait(d, lambda d, n=n: "✓" in d.find_elements(By.CSS_SELECTOR, "#steps button")[n].text, f"step {n + 1}")
    _wait(d, lambda d: d.find_element(By.ID, "timer").text >= "00:03", "a few seconds recorded")

    # Complete without the third: the reason is demanded before anything is closed.
    d.find_element(By.ID, "complete_btn").click()
    _wait(d, lambda d: _visible(d, "dlg_complete"), "completion confirmation")
    assert "客户确认" in d.find_element(By.ID, "complete_missing").text
    d.find_element(By.ID, "complete_yes").click()
    _wait(
        d,
        lambda d: (
            "原因" in d.find_element(By.CSS_SELECTOR, '#dlg_complete [data-field="markers_missing_reason"] .err').text
        ),
        "reason demanded",
    )
    assert checking_agent.svc.counters["C01"].active_clip is not None
    d.find_element(By.ID, "markers_missing_reason").send_keys("客户口头确认")
    _shot(d, "q1-complete-with-reason")
    d.find_element(By.ID, "complete_yes").click()

    # The verdict at the counter: synthetic cameras show no face, so the clip fails, with times.
    _wait(d, lambda d: _visible(d, "verdict_card"), "verdict card")
    WebDriverWait(d, VERDICT_WAIT_S, poll_frequency=0.5).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#verdict [data-verdict]"), "verdict shown"
    )
    assert d.find_element(By.CSS_SELECTOR, "#verdict [data-verdict]").get_attribute("data-verdict") == "fail"
    findings = d.find_element(By.CSS_SELECTOR, "#verdict .findings").text
    assert "人脸" in findings and "no face" in findings and "客户确认" in findings
    _shot(d, "q2-verdict-at-the-counter")
    with checking_agent.svc.sessions() as db:
        first = db.execute(select(Clip).where(Clip.business_serial == "SN-STEPS-1")).scalar_one()
    assert first.quality_verdict == "fail"
    assert ClipManifest.parse(Path(first.manifest_path or "").read_bytes()).markers_missing_reason == "客户口头确认"

    # Record the sale again: the form comes back filled, consent is asked again, the first clip stays.
    d.find_element(By.ID, "rerecord_btn").click()
    _wait(d, lambda d: _visible(d, "rerecord_note"), "re-recording note")
    assert d.find_element(By.ID, "business_serial").get_attribute("value") == "SN-STEPS-1"
    assert d.find_element(By.ID, "earlier_clip_id").get_attribute("value") == first.clip_id
    assert not d.find_element(By.ID, "consent").is_selected()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: "客户未同意" in _field_error(d, "consent"), "consent asked again")
    d.find_element(By.ID, "consent").click()
    d.find_element(By.ID, "start_btn").click()
    _wait(d, lambda d: _visible(d, "rec_panel") and "重录" in d.find_element(By.ID, "rec_summary").text, "second take")
    for n in range(3):
        d.find_elements(By.CSS_SELECTOR, "#steps button")[n].click()
        _wait(d, lambda d, n=n: "✓" in d.find_elements(By.CSS_SELECTOR, "#steps button")[n].text, f"step {n + 1}")
    d.find_element(By.ID, "complete_btn").click()
    _wait(d, lambda d: _visible(d, "dlg_complete"), "completion confirmation")
    assert not _visible(d, "missing_reason_box")
    d.find_element(By.ID, "complete_yes").click()
    _wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#clips tr")) == 2, "both takes listed")
    assert "重录" in d.find_element(By.ID, "clips").text
    with checking_agent.svc.sessions() as db:
        takes = list(db.execute(select(Clip).where(Clip.business_serial == "SN-STEPS-1")).scalars())
    second = next(c for c in takes if c.clip_id != first.clip_id)
    manifest = ClipManifest.parse(Path(second.manifest_path or "").read_bytes())
    assert manifest.origin == "re_recorded" and manifest.earlier_clip_id == first.clip_id
    assert Path(first.media_path).exists()
    _shot(d, "q3-second-take-listed")
