"""Search by every key, paginated, masked by role, audited; the result list as CSV and XLSX."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from center_platform.archive import search as search_module
from center_platform.db.models import AuditEvent, Recording
from tests.center_platform.archive_rig import OPEN_PRODUCT, ArchiveRig, archive_rig  # noqa: F401

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture()
def catalogue(archive_rig: ArchiveRig) -> dict[str, str]:
    """Five clips an hour apart, differing in each searchable key; name -> clip id."""
    rig = archive_rig
    return {
        "wang": rig.archive(customer_name="王小明", started_at=T0, business_serial="SN-0001", id_number="E11111111"),
        "wang2": rig.archive(customer_name="王大明", started_at=T0 + timedelta(hours=1), staff_code="1000002"),
        "zhang": rig.archive(
            customer_name="张明华", started_at=T0 + timedelta(hours=2), card_number="6222020000000000018"
        ),
        "open": rig.archive(customer_name="欧阳小明", started_at=T0 + timedelta(hours=3), product_code=OPEN_PRODUCT),
        "smith": rig.archive(
            customer_name="=SUM(A1)",
            started_at=T0 + timedelta(hours=4),
            id_type="resident_id",
            id_number="11010519491231002X",
        ),
    }


def _found(client, **params: str) -> list[str]:  # type: ignore[no-untyped-def]
    r = client.get("/api/recordings", query_string=params)
    assert r.status_code == 200, r.get_json()
    return [row["clip_id"] for row in r.get_json()["rows"]]


def test_every_key_finds_exactly_its_recordings(archive_rig: ArchiveRig, catalogue: dict[str, str]) -> None:
    c = catalogue
    officer = archive_rig.login("compliance")
    cases = [
        ({"business_serial": "SN-0001"}, ["wang"]),
        ({"customer_name": "王"}, ["wang2", "wang"]),
        ({"customer_name": "小明"}, []),
        ({"customer_name": "小明", "name_match": "contains"}, ["open", "wang"]),
        ({"customer_name": "明华", "name_match": "contains"}, ["zhang"]),
        ({"customer_name": "欧阳小", "name_match": "contains"}, ["open"]),
        ({"customer_name": "%明", "name_match": "contains"}, []),
        ({"id_number": "e11111111"}, ["wang"]),
        ({"card_number": "6222020000000000018"}, ["zhang"]),
        ({"product": OPEN_PRODUCT}, ["open"]),
        ({"product": "稳盈"}, ["smith", "zhang", "wang2", "wang"]),
        ({"product": "不存在"}, []),
        ({"product_type": "OPEN"}, ["open"]),
        ({"branch_code": "B009", "from": "2026-11-02T10:00", "to": "2026-11-02T11:00"}, ["wang2"]),
        ({"branch_code": "B010"}, []),
        ({"staff_code": "1000002"}, ["wang2"]),
        ({"state": "archived", "from": (T0 + timedelta(hours=3)).isoformat()}, ["smith", "open"]),
        ({"state": "deleted"}, []),
    ]
    for params, expected in cases:
        assert _found(officer, **params) == [c[name] for name in expected], params


def test_masking_follows_the_role_and_branch_admins_see_their_branch_only(
    archive_rig: ArchiveRig,
    catalogue: dict[str, str],
) -> None:
    officer = archive_rig.login("compliance").get("/api/recordings", query_string={"customer_name": "=SUM"}).get_json()
    admin = archive_rig.login("b009admin").get("/api/recordings", query_string={"customer_name": "=SUM"}).get_json()
    assert officer["rows"][0]["id_number"] == "11010519491231002X"
    assert admin["rows"][0]["id_number"] == "1101**********002X"
    assert admin["rows"][0]["card_number"] == "622202*********0128"
    assert archive_rig.login("b010admin").get("/api/recordings").get_json()["total"] == 0
    assert "recording_id" not in officer["rows"][0]


def test_pages_and_a_capped_total(
    archive_rig: ArchiveRig, catalogue: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = archive_rig.login("compliance")
    first = officer.get("/api/recordings", query_string={"limit": "2"}).get_json()
    second = officer.get("/api/recordings", query_string={"limit": "2", "offset": "2"}).get_json()
    assert first["total"] == 5 and not first["total_is_lower_bound"]
    assert [r["clip_id"] for r in first["rows"] + second["rows"]] == [
        catalogue[k] for k in ("smith", "open", "zhang", "wang2")
    ]
    monkeypatch.setattr(search_module, "COUNT_CAP", 3)
    capped = officer.get("/api/recordings", query_string={"limit": "2"}).get_json()
    assert capped["total"] == 3 and capped["total_is_lower_bound"]
    from center_platform.web import ui

    monkeypatch.setattr(ui, "PAGE_SIZE", 2)
    page = officer.get("/recordings", query_string={"offset": "2"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "more than 3 recordings" in html and 'id="prev-page"' in html and 'id="next-page"' in html


def test_bad_search_input_is_named(archive_rig: ArchiveRig) -> None:
    officer = archive_rig.login("compliance")
    for params, words in [
        ({"name_match": "fuzzy"}, "name_match"),
        ({"customer_name": "明", "name_match": "contains"}, "at least 2 characters"),
        ({"state": "gone"}, "state"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-02T10:00", "to": "2026-11-02T09:00"}, "later than"),
        ({"colour": "red"}, "colour"),
        ({"offset": "-1"}, "offset"),
    ]:
        r = officer.get("/api/recordings", query_string=params)
        assert r.status_code == 400 and words in r.get_json()["error"], params
    assert officer.get("/recordings", query_string={"state": "gone"}).status_code == 400


def test_searches_are_audited_without_the_identifiers_searched_for(
    archive_rig: ArchiveRig, catalogue: dict[str, str]
) -> None:
    archive_rig.login("compliance").get("/api/recordings", query_string={"id_number": "E11111111"})
    with archive_rig.sessions() as db:
        line = (
            db.execute(select(AuditEvent).where(AuditEvent.action == "search").order_by(AuditEvent.id.desc()))
            .scalars()
            .first()
        )
    assert line is not None and line.actor == "compliance"
    assert "E11111111" not in line.detail and "E111*1111" in line.detail and '"shown": 1' in line.detail


def test_result_list_as_csv_and_xlsx(archive_rig: ArchiveRig, catalogue: dict[str, str]) -> None:
    officer = archive_rig.login("compliance")
    r = officer.get("/api/recordings/export.csv", query_string={"product": "稳盈"})
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    text = r.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:2] == ["办理时间 Time", "业务单号 Serial no."]
    assert [row[-2] for row in rows[1:]] == [catalogue[k] for k in ("smith", "zhang", "wang2", "wang")]
    assert rows[1][5] == "'=SUM(A1)"  # never run as a formula by a spreadsheet
    assert rows[-1][0] == "2026-11-02 09:00:00" and rows[-1][6] == "E11111111"
    # Bought 2 Nov 2026, 90-day term: matures 31 Jan 2027, kept two years to the end of that day.
    assert rows[0][14] == "保存至(含) Kept through" and rows[-1][14] == "2029-01-31"

    x = archive_rig.login("b009admin").get("/api/recordings/export.xlsx", query_string={"customer_name": "王"})
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.get_data()), read_only=True).worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [v[-2] for v in values[1:]] == [catalogue["wang2"], catalogue["wang"]]
    assert values[2][6] == "E111*1111" and values[2][1] == "SN-0001"
    with archive_rig.sessions() as db:
        actions = db.execute(
            select(AuditEvent.actor, AuditEvent.target).where(AuditEvent.action == "search.exported")
        ).all()
    assert sorted(actions) == [("b009admin", "list.xlsx"), ("compliance", "list.csv")]


def test_an_export_larger_than_the_limit_is_refused(
    archive_rig: ArchiveRig,
    catalogue: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from center_platform.web import search_export_api

    monkeypatch.setattr(search_export_api, "EXPORT_MAX", 4)
    r = archive_rig.login("compliance").get("/api/recordings/export.csv")
    assert r.status_code == 400 and "more than 4" in r.get_json()["error"]
    with archive_rig.sessions() as db:
        assert db.execute(select(Recording).where(Recording.state == "archived")).scalars().all().__len__() == 5


def test_xlsx_list_shows_control_characters_instead_of_failing(archive_rig: ArchiveRig) -> None:
    clip = archive_rig.archive(customer_name="王\x07小明")
    r = archive_rig.login("compliance").get("/api/recordings/export.xlsx", query_string={"customer_name": "王"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert [(row[5], row[-2]) for row in rows[1:]] == [("王\\x07小明", clip)]
