"""The sale form over the API: each wrong field gets its own error, named, in Chinese then English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from branch_agent.db.models import Clip
from tests.branch_agent.web.harness import COUNTER, GOOD_SALE, RM_A, Agent, sign_in

CASES = [
    ("business_serial", {"business_serial": ""}, "请输入或生成业务单号"),
    ("business_serial", {"business_serial": "SN 0001/2"}, "只能包含字母"),
    ("customer_name", {"customer_name": "   "}, "请输入客户姓名"),
    ("customer_name", {"customer_name": "张" * 101}, "最多100字"),
    ("id_type", {"id_type": "driving_licence"}, "请选择证件类型"),
    ("id_number", {"id_number": ""}, "请输入证件号码"),
    ("id_number", {"id_number": "1101051949123100"}, "应为18位"),
    ("id_number", {"id_number": "110105194912310021"}, "校验位"),  # wrong check character
    ("id_number", {"id_number": "11010519491331002X"}, "出生日期"),  # month 13
    ("id_number", {"id_type": "passport", "id_number": "E12"}, "护照号码"),
    ("id_number", {"id_type": "hk_macao_permit", "id_number": "X12345678"}, "港澳证件"),
    ("id_number", {"id_type": "taiwan_permit", "id_number": "1234567"}, "台湾证件"),
    ("card_number", {"card_number": ""}, "请输入银行卡号"),
    ("card_number", {"card_number": "6222abc"}, "12–19位数字"),
    ("card_number", {"card_number": "6222021234567890129"}, "Luhn"),
    ("product_code", {"product_code": "NOT-IN-CATALOGUE"}, "请选择产品"),
    ("consent", {"consent": ""}, "客户未同意"),
]


@pytest.mark.parametrize(("field", "change", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_wrong_field_is_named_with_its_message(
    agent_without_cameras: Agent, field: str, change: dict[str, str], expected: str
) -> None:
    client = agent_without_cameras.client()
    csrf = sign_in(client, RM_A)
    r = client.post(f"/api/counters/{COUNTER}/recording", json={**GOOD_SALE, **change}, headers=csrf)
    assert r.status_code == 422
    fields = r.get_json()["fields"]
    assert set(fields) == {field}
    message = fields[field]
    assert expected in message
    # Chinese first, then " / " and English.
    zh, en = message.split(" / ", 1)
    assert re.search(r"[\u4e00-\u9fff]", zh) and re.search(r"[A-Za-z]{3}", en)
    with agent_without_cameras.svc.sessions() as db:
        assert db.execute(select(Clip)).first() is None


def test_several_wrong_fields_are_all_reported_at_once(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    csrf = sign_in(client, RM_A)
    bad = {**GOOD_SALE, "id_number": "110105194912310021", "card_number": "123", "consent": "", "product_code": "X"}
    r = client.post(f"/api/counters/{COUNTER}/recording", json=bad, headers=csrf)
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {
        "id_number",
        "card_number",
        "consent",
        "product_code",
    }


def test_unknown_counter_and_unknown_marker(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    csrf = sign_in(client, RM_A)
    r = client.post("/api/counters/NOPE/recording", json=GOOD_SALE, headers=csrf)
    assert r.status_code == 404 and "NOPE" in r.get_json()["error"]
    r = client.post(f"/api/counters/{COUNTER}/recording/markers", json={"kind": "coffee"}, headers=csrf)
    assert r.status_code == 422 and "coffee" in r.get_json()["error"]
    r = client.post(f"/api/counters/{COUNTER}/recording/complete", headers=csrf)
    assert r.status_code == 409 and "not recording" in r.get_json()["error"]
    r = client.post(f"/api/counters/{COUNTER}/recording/cancel", json={"reason": " "}, headers=csrf)
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"reason"}


def test_generated_serial_numbers_pass_validation_and_differ(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    sign_in(client, RM_A)
    serials = {client.get("/api/serials/new").get_json()["business_serial"] for _ in range(5)}
    assert len(serials) == 5
    assert all(re.fullmatch(r"B001-\d{14}-[0-9A-F]{4}", s) for s in serials)


def test_catalogue_lists_name_type_term_and_risk(agent_without_cameras: Agent) -> None:
    client = agent_without_cameras.client()
    sign_in(client, RM_A)
    [p] = client.get("/api/products").get_json()["products"]
    assert (p["code"], p["name"], p["type_name"], p["term_days"], p["risk_level"]) == (
        "FX180",
        "稳盈180天",
        "固定期限 fixed-term",
        180,
        "R2",
    )
    assert "投资须谨慎" in p["disclosure_script"]
