"""Catalogue configuration by the system admin: API and pages, validation, audit with before/after, branch sync ETags."""

from __future__ import annotations

import json

from sqlalchemy import select

from center_platform.db.models import AuditEvent, Branch, Staff
from center_platform.db.sealed_secrets import branch_secret
from storage.contract.passwords import check_password
from storage.signing import SigningKey
from tests.center_platform.admin.test_four_eyes import SECOND_ADMIN, _second_admin
from tests.center_platform.archive_rig import BRANCH_CODE, ArchiveRig, archive_rig, signed_branch_request  # noqa: F401


def _audit(rig: ArchiveRig, action: str) -> list[AuditEvent]:
    with rig.sessions() as db:
        return list(db.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).scalars())


def test_admin_configures_types_products_branches_staff_users(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.post(
        "/api/admin/product-types",
        json={"code": "STRUCT", "name": "结构性存款", "retention_rule": "fixed_term", "years_after_maturity": 3},
    )
    assert r.status_code == 201 and r.get_json()["item"]["years_after_maturity"] == 3
    r = admin.post(
        "/api/admin/products",
        json={
            "code": "S-180",
            "name": "结构性180天",
            "type_code": "STRUCT",
            "term_days": 180,
            "risk_level": "R3",
            "disclosure_script": "本产品有风险……",
            "required_markers": ["风险揭示", "客户确认"],
        },
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["item"]["required_markers"] == ["风险揭示", "客户确认"]

    key = SigningKey.generate().public_key_b64
    r = admin.post(
        "/api/admin/branches",
        json={
            "code": "B077",
            "name": "新开支行",
            "timezone": "Asia/Urumqi",
            "signing_public_key": key,
            "counters": [{"code": "C01", "name": "一号柜台"}],
        },
    )
    assert r.status_code == 201
    secret = r.get_json()["api_secret"]
    assert len(secret) >= 32
    listed = admin.get("/api/admin/branches").get_json()["items"]
    assert secret not in json.dumps(listed) and [
        c["code"] for c in next(b for b in listed if b["code"] == "B077")["counters"]
    ] == ["C01"]
    assert admin.post("/api/admin/branches/B077/counters", json={"code": "C02", "name": "二号柜台"}).status_code == 201

    r = admin.post(
        "/api/admin/staff",
        json={"code": "2000001", "name": "张经理", "branch_code": "B077", "password": "rm-password-1"},
    )
    assert r.status_code == 201 and r.get_json()["item"]["role"] == "relationship_manager"
    r = admin.post(
        "/api/admin/users",
        json={"username": "b077admin", "role": "branch_admin", "branch_code": "B077", "password": "admin-pass-77"},
    )
    assert r.status_code == 201 and r.get_json()["item"]["branch_code"] == "B077"
    assert (
        archive_rig.app.test_client()
        .post("/api/session", json={"username": "b077admin", "password": "admin-pass-77"})
        .status_code
        == 200
    )

    # Deactivate, never delete: the staff member stays listed, inactive, and leaves the branch's sync.
    assert (
        admin.patch("/api/admin/staff/2000001", json={"active": False, "password": "new-password-2"}).get_json()[
            "item"
        ]["active"]
        is False
    )
    with archive_rig.sessions() as db:
        staff = db.execute(select(Staff).where(Staff.code == "2000001")).scalar_one()
        assert not staff.active and check_password("new-password-2", staff.password_hash)

    trail = json.dumps(
        [
            e.detail
            for e in _audit(archive_rig, "catalogue.branch.enrolled")
            + _audit(archive_rig, "catalogue.staff.updated")
            + _audit(archive_rig, "catalogue.staff.created")
            + _audit(archive_rig, "user.created")
        ],
        ensure_ascii=False,
    )
    assert secret not in trail and "scrypt$" not in trail and "new-password-2" not in trail
    [staff_edit] = _audit(archive_rig, "catalogue.staff.updated")
    assert json.loads(staff_edit.detail) == {
        "before": {"active": True},
        "after": {"active": False},
        "password": "reset",
    }
    assert staff_edit.actor == "sysadmin" and staff_edit.target == "2000001"


def test_bad_input_is_400_naming_the_field_and_changes_nothing(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    before = {
        k: admin.get(f"/api/admin/{k}").get_json() for k in ("product-types", "products", "branches", "staff", "users")
    }
    with archive_rig.sessions() as db:
        audit_rows = db.query(AuditEvent).count()
    key = SigningKey.generate().public_key_b64
    cases = [
        (
            "/api/admin/branches",
            {"code": "B078", "name": "x", "timezone": "Asia/Peking", "signing_public_key": key},
            "timezone",
        ),
        (
            "/api/admin/branches",
            {"code": "B078", "name": "x", "signing_public_key": "bm90IGEga2V5"},
            "signing_public_key",
        ),
        (
            "/api/admin/branches",
            {"code": "B078", "name": "x", "signing_public_key": "%%%not base64"},
            "signing_public_key",
        ),
        (
            "/api/admin/staff",
            {"code": "12345", "name": "x", "branch_code": BRANCH_CODE, "password": "long-enough"},
            "code",
        ),
        (
            "/api/admin/staff",
            {"code": "1234567", "name": "x", "branch_code": "NOPE", "password": "long-enough"},
            "branch_code",
        ),
        (
            "/api/admin/users",
            {"username": "newadmin", "role": "branch_admin", "password": "long-enough"},
            "branch_code",
        ),
        (
            "/api/admin/users",
            {"username": "aud2", "role": "auditor", "branch_code": BRANCH_CODE, "password": "long-enough"},
            "branch_code",
        ),
        ("/api/admin/users", {"username": "rooty", "role": "root", "password": "long-enough"}, "role"),
        ("/api/admin/products", {"code": "P-X", "name": "x", "type_code": "FIXED", "risk_level": "R9"}, "risk_level"),
        (
            "/api/admin/products",
            {"code": "P-X", "name": "x", "type_code": "FIXED", "risk_level": "R1"},
            "maturity_date",
        ),
        (
            "/api/admin/products",
            {"code": "P-X", "name": "x", "type_code": "OPEN", "risk_level": "R1", "required_markers": ["a", "a"]},
            "required_markers",
        ),
        ("/api/admin/product-types", {"code": "T", "name": "x", "retention_rule": "forever"}, "retention_rule"),
        (
            "/api/admin/product-types",
            {"code": "T", "name": "x", "retention_rule": "open_ended", "colour": "red"},
            "colour",
        ),
    ]
    for path, body, field in cases:
        r = admin.post(path, json=body)
        assert r.status_code == 400, (path, body, r.get_json())
        assert r.get_json()["field"] == field and field in r.get_json()["error"], r.get_json()
    assert admin.patch("/api/admin/branches/B009", json={"timezone": "UTC+8"}).get_json()["field"] == "timezone"
    assert (
        admin.patch("/api/admin/products/P-90", json={"term_days": None}).status_code == 400
    )  # fixed term with neither date nor term

    duplicates = [
        ("/api/admin/branches", {"code": BRANCH_CODE, "name": "x", "signing_public_key": key}),
        ("/api/admin/branches/B009/counters", {"code": "C01", "name": "x"}),
        ("/api/admin/products", {"code": "P-90", "name": "x", "type_code": "OPEN", "risk_level": "R1"}),
        ("/api/admin/product-types", {"code": "FIXED", "name": "x", "retention_rule": "fixed_term"}),
        ("/api/admin/users", {"username": "auditor", "role": "auditor", "password": "long-enough"}),
    ]
    for path, body in duplicates:
        assert admin.post(path, json=body).status_code == 409, path
    assert admin.patch("/api/admin/users/sysadmin", json={"active": False}).status_code == 409  # not yourself
    assert admin.patch("/api/admin/products/NOPE", json={"name": "x"}).status_code == 404

    after = {k: admin.get(f"/api/admin/{k}").get_json() for k in before}
    assert after == before
    with archive_rig.sessions() as db:
        assert db.query(AuditEvent).count() == audit_rows


def test_branch_sync_etags_follow_the_admins_edits(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    branch = archive_rig.branch_client()

    def etag(path: str) -> str:
        r, _ = signed_branch_request(branch, "GET", path)
        assert r.status_code == 200
        return r.headers["ETag"]

    paths = ("/api/branch/v1/catalog", "/api/branch/v1/staff", "/api/branch/v1/branch")
    first = {p: etag(p) for p in paths}
    assert first == {p: etag(p) for p in paths}  # content-derived: the same content, the same tag

    assert admin.patch("/api/admin/products/OPEN-1", json={"disclosure_script": "新的风险揭示话术"}).status_code == 200
    assert (
        admin.post(
            "/api/admin/staff",
            json={"code": "1000009", "name": "新经理", "branch_code": BRANCH_CODE, "password": "rm-password-9"},
        ).status_code
        == 201
    )
    assert admin.post("/api/admin/branches/B009/counters", json={"code": "C02", "name": "二号柜台"}).status_code == 201
    second = {p: etag(p) for p in paths}
    assert all(first[p] != second[p] for p in paths)

    r, _ = signed_branch_request(branch, "GET", "/api/branch/v1/catalog", headers=None)
    assert any(p["disclosure_script"] == "新的风险揭示话术" for p in r.get_json()["products"])
    # Deactivating a product takes it out of what branches may sell.
    assert admin.patch("/api/admin/products/OPEN-1", json={"active": False}).status_code == 200
    r, _ = signed_branch_request(branch, "GET", "/api/branch/v1/catalog")
    assert "OPEN-1" not in [p["code"] for p in r.get_json()["products"]] and r.headers["ETag"] != second[paths[0]]


def test_secret_rotation_shows_the_new_secret_once_and_the_old_one_stops_working(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    r = admin.post("/api/admin/branches/B009/secret")
    new_secret = r.get_json()["api_secret"]
    r, _ = signed_branch_request(archive_rig.branch_client(), "GET", "/api/branch/v1/branch")
    assert r.status_code == 401
    r, _ = signed_branch_request(archive_rig.branch_client(), "GET", "/api/branch/v1/branch", secret=new_secret)
    assert r.status_code == 200
    with archive_rig.sessions() as db:
        # Kept sealed: the database alone does not yield it, the center's data key opens it.
        branch = db.execute(select(Branch).where(Branch.code == BRANCH_CODE)).scalar_one()
        assert new_secret not in branch.api_secret and branch_secret(db, branch) == new_secret
    assert new_secret not in json.dumps([e.detail for e in _audit(archive_rig, "catalogue.branch.secret_rotated")])


def test_configuration_pages(archive_rig: ArchiveRig) -> None:
    admin = archive_rig.login("sysadmin")
    csrf = admin.environ_base["HTTP_X_CSRF_TOKEN"]
    page = admin.get("/admin/products")
    assert page.status_code == 200 and "产品 Products" in page.text and 'data-key="P-90"' in page.text
    r = admin.post(
        "/admin/products",
        data={
            "csrf_token": csrf,
            "code": "P-365",
            "name": "稳盈一年",
            "type_code": "FIXED",
            "term_days": "365",
            "risk_level": "R2",
            "required_markers": "风险揭示\n客户确认\n",
        },
    )
    assert r.status_code == 302
    listed = {p["code"]: p for p in admin.get("/api/admin/products").get_json()["items"]}
    assert listed["P-365"]["term_days"] == 365 and listed["P-365"]["required_markers"] == ["风险揭示", "客户确认"]

    r = admin.post(
        "/admin/products",
        data={
            "csrf_token": csrf,
            "code": "P-bad",
            "name": "x",
            "type_code": "FIXED",
            "term_days": "ninety",
            "risk_level": "R2",
        },
    )
    assert r.status_code == 400 and "term_days" in r.text and 'value="P-bad"' in r.text

    key = SigningKey.generate().public_key_b64
    r = admin.post(
        "/admin/branches",
        data={
            "csrf_token": csrf,
            "code": "B088",
            "name": "页面支行",
            "timezone": "Asia/Shanghai",
            "signing_public_key": key,
        },
    )
    assert r.status_code == 201 and 'id="api-secret"' in r.text
    assert "B088" in admin.get("/admin/branches").text and 'id="api-secret"' not in admin.get("/admin/branches").text

    edit = admin.get("/admin/users/auditor")
    assert edit.status_code == 200 and "重置密码" in edit.text
    r = admin.post(
        "/admin/users/auditor",
        data={"csrf_token": csrf, "display_name": "审计员", "role": "auditor", "branch_code": ""},
    )
    assert r.status_code == 302
    users = {u["username"]: u for u in admin.get("/api/admin/users").get_json()["items"]}
    assert (
        users["auditor"]["display_name"] == "审计员" and users["auditor"]["active"] is False
    )  # unchecked box deactivates
    admin.environ_base.pop("HTTP_X_CSRF_TOKEN")
    assert admin.post("/admin/products", data={"code": "P-csrf", "name": "x"}).status_code == 403  # no CSRF token
    assert admin.patch("/api/admin/products/P-90", json={"name": "x"}).status_code == 403


def test_moving_a_products_maturity_extends_its_recordings_retention(archive_rig: ArchiveRig) -> None:
    from center_platform.db.models import Recording

    clip = archive_rig.archive(product_code="P-90")
    with archive_rig.sessions() as db:
        before = db.execute(select(Recording.retain_until).where(Recording.clip_id == clip)).scalar_one()
    admin = archive_rig.login("sysadmin")
    r = admin.patch("/api/admin/products/P-90", json={"maturity_date": "2031-06-30"})
    assert r.status_code == 200 and r.get_json()["retention_moved"] == 1
    with archive_rig.sessions() as db:
        moved = db.execute(select(Recording.retain_until).where(Recording.clip_id == clip)).scalar_one()
    assert moved > before and moved.year == 2033
    # Retention only moves later: an earlier maturity leaves the recording's retain-until where it is.
    r = admin.patch("/api/admin/products/P-90", json={"maturity_date": "2027-01-31"})
    assert r.status_code == 200 and r.get_json()["retention_moved"] == 0
    with archive_rig.sessions() as db:
        assert db.execute(select(Recording.retain_until).where(Recording.clip_id == clip)).scalar_one() == moved
    [edit, _] = _audit(archive_rig, "catalogue.product.updated")
    assert (
        json.loads(edit.detail)["after"] == {"maturity_date": "2031-06-30"}
        and json.loads(edit.detail)["retention_moved"] == 1
    )

    # A longer rule for the whole type (maturity 2027-01-31 + 8 years) moves it again once a second
    # system admin approves it (four eyes); the page says how many moved.
    csrf = admin.environ_base["HTTP_X_CSRF_TOKEN"]
    r = admin.post(
        "/admin/product-types/FIXED",
        data={
            "csrf_token": csrf,
            "name": "固定期限",
            "retention_rule": "fixed_term",
            "years_after_maturity": "8",
            "years_after_purchase": "5",
            "years_after_redemption": "2",
            "years_after_dispute": "2",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200 and "submitted for approval" in r.text
    [change] = admin.get("/api/admin/pending-changes").get_json()["items"]
    _second_admin(archive_rig)
    second = archive_rig.login(SECOND_ADMIN)
    r = second.post(
        f"/admin/pending-changes/{change['id']}/approve",
        data={"csrf_token": second.environ_base["HTTP_X_CSRF_TOKEN"]},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "1 段录像保存期已顺延" in r.text
    with archive_rig.sessions() as db:
        assert db.execute(select(Recording.retain_until).where(Recording.clip_id == clip)).scalar_one().year == 2035
