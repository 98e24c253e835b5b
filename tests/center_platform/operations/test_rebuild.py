"""The catalogue's recordings rebuilt from the store's signed manifests: the same search results,
retain-until, legal hold and chain state as before they were lost; what the store cannot prove reported."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from center_platform.config import load_center_config
from center_platform.db.models import AuditEvent, Base, Branch, Counter, Recording
from center_platform.ingest.object_keys import object_key
from center_platform.operations.rebuild import register, run_rebuild
from center_platform.retention.disputes import close_dispute, open_dispute
from storage.contract.request_signing import sign_request
from storage.manifest import ClipManifest
from storage.signing import SigningKey
from tests.center_platform.archive_rig import (  # noqa: F401
    FIXED_PRODUCT,
    OPEN_PRODUCT,
    ArchiveRig,
    archive_rig,
    clip_manifest,
)

SECRET = "rebuild-branch-secret"


def _signed(client: FlaskClient, code: str, method: str, path: str, body: object | None = None):  # type: ignore[no-untyped-def]
    data = b"" if body is None else json.dumps(body).encode()
    headers = sign_request(code, SECRET, method, path, data, int(time.time())).as_dict()
    return client.open(path, method=method, data=data, headers=headers, content_type="application/json")


def _upload(client: FlaskClient, code: str, manifest: ClipManifest, media: bytes) -> None:
    """The branch's upload protocol for a branch of this test's own."""
    r = _signed(client, code, "POST", "/api/branch/v1/uploads", {"manifest": json.loads(manifest.canonical_bytes())})
    assert r.status_code == 200, r.get_json()
    plan = r.get_json()
    size = plan["part_size"]
    chunks = [media[i : i + size] for i in range(0, len(media), size)]
    parts = [
        {"part_number": n, "sha256_b64": base64.b64encode(hashlib.sha256(c).digest()).decode()}
        for n, c in enumerate(chunks, 1)
    ]
    r = _signed(client, code, "POST", f"/api/branch/v1/uploads/{manifest.clip_id}/parts", {"parts": parts})
    assert r.status_code == 200, r.get_json()
    for p in r.get_json()["parts"]:
        resp = requests.put(p["url"], data=chunks[p["part_number"] - 1], headers=p["headers"], timeout=30)
        assert resp.status_code == 200, resp.text
    r = _signed(client, code, "POST", f"/api/branch/v1/uploads/{manifest.clip_id}/complete")
    assert r.get_json()["state"] == "verified", r.get_json()


def _manifest(key: SigningKey, code: str, media: bytes, **fields: object) -> ClipManifest:
    plain = clip_manifest(key, media, **fields)  # type: ignore[arg-type]
    return plain.model_copy(update={"branch_code": code, "signature": None}).signed(key)


def _snapshot(rig: ArchiveRig, code: str) -> tuple[list[dict[str, object]], dict[str, tuple[object, ...]]]:
    """The search results (without the catalogue's row ids) and each clip's retention and chain state."""
    found = rig.login("compliance").get("/api/recordings", query_string={"branch_code": code, "limit": "200"})
    assert found.status_code == 200, found.get_json()
    rows = [{k: v for k, v in row.items() if k != "recording_id"} for row in found.get_json()["rows"]]
    with rig.sessions() as db:
        recs = db.execute(select(Recording).join(Branch).where(Branch.code == code)).scalars()
        state: dict[str, tuple[object, ...]] = {
            r.clip_id: (r.retain_until, r.legal_hold, r.chain_status, r.prev_manifest_sha256, r.version_id, r.state)
            for r in recs
        }
    return rows, state


def _drop_recordings(rig: ArchiveRig) -> None:
    """The catalogue loses its recordings and every row that hangs on them; the configuration stays."""
    with rig.sessions() as db:
        for table in reversed(Base.metadata.sorted_tables):
            if any(fk.column.table.name == "recordings" for fk in table.foreign_keys):
                db.execute(delete(table))
        db.execute(delete(Recording))
        db.commit()


def test_the_catalogue_is_rebuilt_from_the_store(
    archive_rig: ArchiveRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = archive_rig
    code = "RB" + secrets.token_hex(4).upper()
    key = SigningKey.generate()
    with rig.sessions() as db:
        branch = Branch(code=code, name="重建支行", api_secret=SECRET, signing_public_key=key.public_key_b64)
        db.add(branch)
        db.flush()
        db.add(Counter(branch_id=branch.id, code="C01", name="C01"))
        db.commit()

    day = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    client = rig.branch_client()
    media = [secrets.token_bytes(3000 + n) for n in range(6)]
    # A chain: first, linked, linked (disputed, held), one whose predecessor never arrived, a restart.
    first = _manifest(key, code, media[0], started_at=day, product_code=FIXED_PRODUCT, customer_name="王小明")
    second = _manifest(
        key,
        code,
        media[1],
        started_at=day + timedelta(hours=1),
        product_code=OPEN_PRODUCT,
        customer_name="李四",
        prev_manifest_sha256=first.manifest_sha256(),
    )
    third = _manifest(
        key,
        code,
        media[2],
        started_at=day + timedelta(days=1),
        product_code=FIXED_PRODUCT,
        customer_name="张三",
        prev_manifest_sha256=second.manifest_sha256(),
    )
    never_sent = _manifest(key, code, media[3], started_at=day + timedelta(days=2))
    awaiting = _manifest(
        key, code, media[4], started_at=day + timedelta(days=3), prev_manifest_sha256=never_sent.manifest_sha256()
    )
    restart = _manifest(key, code, media[5], started_at=day + timedelta(days=4), product_code=OPEN_PRODUCT)
    for m, body in (
        (first, media[0]),
        (second, media[1]),
        (third, media[2]),
        (awaiting, media[4]),
        (restart, media[5]),
    ):
        _upload(client, code, m, body)
    with rig.sessions() as db:
        # A closed dispute moves the first clip's lock later than its rule alone; an open one holds the third.
        opened = open_dispute(db, rig.store, first.clip_id, "CASE-1", "complaint", "compliance")
        close_dispute(db, rig.store, first.clip_id, opened.id, "settled", "compliance")
        open_dispute(db, rig.store, third.clip_id, "CASE-2", "litigation", "compliance")
        db.commit()

    before_rows, before = _snapshot(rig, code)
    assert len(before_rows) == 5
    assert {c: s[2] for c, s in before.items()} == {
        first.clip_id: "first",
        second.clip_id: "linked",
        third.clip_id: "linked",
        awaiting.clip_id: "awaiting",
        restart.clip_id: "restarted",
    }
    assert before[third.clip_id][1] is True and before[first.clip_id][1] is False

    # Planted in the store: a manifest without its media, one signed by a key the branch never had,
    # and a clip object without a manifest.
    store = rig.store
    lost_media = _manifest(key, code, b"gone", started_at=day + timedelta(days=5))
    store.put_small(
        object_key(lost_media, "FIXED") + ".manifest.json", lost_media.canonical_bytes(), "application/json"
    )
    forged_body = secrets.token_bytes(2000)
    forged = _manifest(SigningKey.generate(), code, forged_body, started_at=day + timedelta(days=5))
    store.put_small(object_key(forged, "FIXED"), forged_body, "video/mp4")
    store.put_small(object_key(forged, "FIXED") + ".manifest.json", forged.canonical_bytes(), "application/json")
    stray = f"clips/{code}/2026/03/07/{secrets.token_hex(16)}.mp4"
    store.put_small(stray, secrets.token_bytes(100), "video/mp4")

    _drop_recordings(rig)
    assert _snapshot(rig, code) == ([], {})

    report_file = tmp_path / "rebuild.json"
    config = rig.write_cli_config(tmp_path / "center.toml", monkeypatch)
    # Pages of two keys: a clip and its manifest fall on different pages too.
    # The branch's clips are grouped under each product type; the stray sits where clips were kept before.
    prefixes = [f"clips/FIXED/{code}/", f"clips/OPEN/{code}/", f"clips/{code}/"]
    report = run_rebuild(rig.sessions, store, prefix=prefixes, verify_hashes=True, page=2)
    assert report.rebuilt == 5 and report.legal_holds == 1 and report.already_present == 0, report.lines()
    problems = {(p.kind, p.key) for p in report.not_rebuilt}
    assert problems == {
        ("missing_media", object_key(lost_media, "FIXED") + ".manifest.json"),
        ("bad_signature", object_key(forged, "FIXED")),
        ("manifest_missing", stray),
    }
    after_rows, after = _snapshot(rig, code)
    assert after_rows == before_rows
    assert after == before

    # Again, as the command runs it: everything is there already; the report says what still is not.
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["rebuild", *(a for p in prefixes for a in ("--prefix", p)), "--report", str(report_file)])
    code_rc = args.fn(load_center_config(config), args)
    assert code_rc == 1  # problems remain
    again = json.loads(report_file.read_text(encoding="utf-8"))
    assert again["rebuilt"] == 0 and again["already_present"] == 5
    assert again["not_rebuilt_by_kind"] == {"bad_signature": 1, "manifest_missing": 1, "missing_media": 1}
    assert {p["kind"] for p in again["problems"]} == {"bad_signature", "manifest_missing", "missing_media"}
    assert _snapshot(rig, code) == (before_rows, before)
    with rig.sessions() as db:
        runs = db.execute(select(AuditEvent.detail).where(AuditEvent.action == "catalogue.rebuilt")).scalars().all()
    assert [json.loads(d)["rebuilt"] for d in runs] == [5, 0]
