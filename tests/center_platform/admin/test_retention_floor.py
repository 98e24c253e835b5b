"""The regulatory floor under retention: no rule of a business type keeps clips for fewer years than
`[retention] minimum_years`, whoever asks; rows already below it are reported at start-up, not changed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from center_platform.app import create_app
from center_platform.config import CenterConfig, load_center_config
from center_platform.db.models import AuditEvent, PendingChange, ProductType
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
YEAR_FIELDS = ("years_after_maturity", "years_after_purchase", "years_after_redemption", "years_after_dispute")


def test_the_minimum_is_configured_documented_and_at_least_one_year() -> None:
    assert CenterConfig().retention.minimum_years == 2
    assert CenterConfig.model_validate({"retention": {"minimum_years": 5}}).retention.minimum_years == 5
    with pytest.raises(ValidationError):
        CenterConfig.model_validate({"retention": {"minimum_years": 0}})
    example = REPO / "configs" / "center.example.toml"
    assert "[retention]" in example.read_text(encoding="utf-8")
    assert load_center_config(example).retention.minimum_years == 2


@pytest.mark.parametrize("field", YEAR_FIELDS)
@pytest.mark.parametrize("years", [0, 1])
def test_a_new_type_below_the_minimum_is_refused_naming_the_field(
    archive_rig: ArchiveRig, field: str, years: int
) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.post(
        "/api/admin/product-types",
        json={"code": "SHORT", "name": "短期", "retention_rule": "open_ended", field: years},
    )
    assert r.status_code == 400, r.get_json()
    body = r.get_json()
    assert body["field"] == field
    # Chinese first, then English, and the minimum named.
    assert "最低保存年限" in body["error"] and "regulatory minimum of 2 years" in body["error"]
    assert body["error"].index("最低") < body["error"].index("minimum")
    with archive_rig.sessions() as db:
        assert db.execute(select(ProductType).where(ProductType.code == "SHORT")).scalar_one_or_none() is None


def test_an_edit_below_the_minimum_is_refused_and_nothing_is_proposed(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.patch("/api/admin/product-types/FIXED", json={"years_after_maturity": 0})
    assert r.status_code == 400 and r.get_json()["field"] == "years_after_maturity"
    with archive_rig.sessions() as db:
        assert db.execute(select(ProductType.years_after_maturity).where(ProductType.code == "FIXED")).scalar_one() == 2
        assert db.execute(select(PendingChange)).first() is None
        assert db.execute(select(AuditEvent).where(AuditEvent.action.like("catalogue.type.%"))).first() is None
    # The page says so too, bilingual.
    csrf = admin.environ_base["HTTP_X_CSRF_TOKEN"]
    page = admin.post(
        "/admin/product-types/FIXED",
        data={
            "csrf_token": csrf,
            "name": "固定期限",
            "retention_rule": "fixed_term",
            "years_after_maturity": "2",
            "years_after_purchase": "5",
            "years_after_redemption": "2",
            "years_after_dispute": "1",
        },
    )
    assert page.status_code == 400 and "years_after_dispute" in page.text and "最低保存年限" in page.text


def test_a_higher_configured_minimum_applies(archive_rig: ArchiveRig) -> None:
    svc = archive_rig.app.extensions["center"]
    svc.config = svc.config.model_copy(
        update={"retention": svc.config.retention.model_copy(update={"minimum_years": 3})}
    )
    admin = archive_rig.login("sysadmin")
    r = admin.post(
        "/api/admin/product-types",
        json={
            "code": "LONG",
            "name": "长期",
            "retention_rule": "fixed_term",
            "years_after_maturity": 3,
            "years_after_purchase": 5,
            "years_after_redemption": 3,
            "years_after_dispute": 2,
        },
    )
    assert r.status_code == 400 and r.get_json()["field"] == "years_after_dispute"
    assert "3" in r.get_json()["error"]


def test_rows_below_the_minimum_are_reported_at_start_up_and_left_alone(
    archive_rig: ArchiveRig, caplog: pytest.LogCaptureFixture
) -> None:
    with archive_rig.sessions() as db:
        db.add(ProductType(code="LEGACY", name="旧规则", retention_rule="fixed_term", years_after_maturity=0))
        db.commit()
    with caplog.at_level(logging.WARNING):
        app = create_app(archive_rig.config, archive_rig.store)
    app.extensions["center"].engine.dispose()
    reported = [r.getMessage() for r in caplog.records if "LEGACY" in r.getMessage()]
    assert reported and "years_after_maturity" in reported[0] and "0" in reported[0]
    with archive_rig.sessions() as db:
        assert (
            db.execute(select(ProductType.years_after_maturity).where(ProductType.code == "LEGACY")).scalar_one() == 0
        )
    # The admin sees it on the business types page as well.
    page = archive_rig.login("sysadmin").get("/admin/product-types")
    assert page.status_code == 200 and 'id="below-minimum"' in page.text and "LEGACY" in page.text
