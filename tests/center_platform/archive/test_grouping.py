"""The archive by product type, branch and day: counts per group, each group's clips stored under its
product type, and a product type's clips of a period exported together, each as its own verifiable
evidence package."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from center_platform.db.models import AuditEvent, Recording
from tests.center_platform.archive_rig import (  # noqa: F401
    BRANCH_CODE,
    FIXED_PRODUCT,
    OPEN_PRODUCT,
    ArchiveRig,
    archive_rig,
)

D1 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
D2 = D1 + timedelta(days=1)


def test_groups_are_listed_and_a_product_types_clips_exported(archive_rig: ArchiveRig) -> None:
    rig = archive_rig
    fixed = [rig.archive(started_at=D1, product_code=FIXED_PRODUCT) for _ in range(2)]
    fixed.append(rig.archive(started_at=D2, product_code=FIXED_PRODUCT))
    rig.archive(started_at=D1, product_code=OPEN_PRODUCT)
    with rig.sessions() as db:
        keys = set(db.execute(select(Recording.object_key).where(Recording.clip_id.in_(fixed))).scalars())
    assert all(k.startswith(f"clips/FIXED/{BRANCH_CODE}/2026/06/0") for k in keys)

    compliance = rig.login("compliance")
    period = {"day_from": "2026-06-01", "day_to": "2026-06-30"}
    groups = compliance.get("/api/recordings/groups", query_string=period).get_json()["groups"]
    assert [(g["product_type"], g["branch_code"], g["day"], g["clips"]) for g in groups] == [
        ("FIXED", BRANCH_CODE, "2026-06-01", 2),
        ("FIXED", BRANCH_CODE, "2026-06-02", 1),
        ("OPEN", BRANCH_CODE, "2026-06-01", 1),
    ]
    page = compliance.get("/recordings/groups", query_string=period).get_data(as_text=True)
    assert 'data-product-type="FIXED"' in page and "product_type=FIXED" in page

    r = compliance.post("/api/recordings/groups/export", query_string={**period, "product_type": "FIXED"})
    assert r.status_code == 200, r.get_json()
    assert hashlib.sha256(r.data).hexdigest() == r.headers["X-Package-SHA256"]
    outer = zipfile.ZipFile(io.BytesIO(r.data))
    index = list(csv.DictReader(io.StringIO(outer.read("INDEX.csv").decode("utf-8-sig"))))
    assert sorted(row["clip_id"] for row in index) == sorted(fixed)
    assert {row["day"] for row in index} == {"2026-06-01", "2026-06-02"}
    sums = dict(line.split("  ")[::-1] for line in outer.read("SHA256SUMS").decode().splitlines())
    for row in index:
        inner_bytes = outer.read(row["package"])
        assert row["package"].startswith(f"{BRANCH_CODE}/{row['day']}/")
        assert hashlib.sha256(inner_bytes).hexdigest() == row["package_sha256"] == sums[row["package"]]
        inner = zipfile.ZipFile(io.BytesIO(inner_bytes))
        assert {f"{row['clip_id']}.mp4", "manifest.json", "verify.py", "SHA256SUMS"} <= set(inner.namelist())
    with rig.sessions() as db:
        actions = list(db.execute(select(AuditEvent.action, AuditEvent.target)).tuples())
    assert ("recordings.group_exported", "FIXED") in actions
    assert {t for a, t in actions if a == "recording.exported"} == set(fixed)
    assert ("recordings.grouped", "all") in actions

    # From the page: the same zip, or the page again with the reason when there is nothing to export.
    form = {**period, "product_type": "OPEN", "csrf_token": compliance.environ_base["HTTP_X_CSRF_TOKEN"]}
    r = compliance.post("/recordings/groups/export", data=form)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    r = compliance.post("/recordings/groups/export", data={**form, "day_from": "2026-07-01", "day_to": "2026-07-31"})
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "该期间没有此类产品的录像" in r.get_data(as_text=True)

    # A branch admin sees the own branch's groups and cannot export; an auditor sees none.
    admin = rig.login("b010admin")
    assert admin.get("/api/recordings/groups", query_string=period).get_json()["groups"] == []
    assert (
        admin.post("/api/recordings/groups/export", query_string={**period, "product_type": "FIXED"}).status_code == 403
    )
    assert rig.login("auditor").get("/api/recordings/groups").status_code == 403
    bad = compliance.get("/api/recordings/groups", query_string={"day_from": "2026-01-01", "day_to": "2026-12-31"})
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("一次最多")
