"""Registering a clip: the manifest arrives as the contract's typed model, and a bad one is refused clearly."""

from __future__ import annotations

import json
import secrets

from sqlalchemy import func, select

from center_platform.db.models import IngestUpload
from storage.contract import routes
from storage.contract.uploads import RegisterUpload
from tests.center_platform.archive_rig import ArchiveRig, archive_rig, clip_manifest, signed_branch_request  # noqa: F401


def _uploads(rig: ArchiveRig) -> int:
    with rig.sessions() as db:
        return int(db.execute(select(func.count()).select_from(IngestUpload)).scalar_one())


def test_a_malformed_manifest_is_refused_naming_its_first_bad_field(archive_rig: ArchiveRig) -> None:
    manifest = json.loads(clip_manifest(archive_rig.key, b"media").canonical_bytes())
    manifest["staff_code"] = "12"
    r, _ = signed_branch_request(archive_rig.branch_client(), "POST", routes.UPLOADS, {"manifest": manifest})
    assert r.status_code == 422
    assert r.get_json()["error"].startswith("manifest field staff_code: ")
    assert _uploads(archive_rig) == 0


def test_a_request_without_a_manifest_object_is_a_bad_request(archive_rig: ArchiveRig) -> None:
    client = archive_rig.branch_client()
    for body in ({"manifest": "not an object"}, {"manifest": {}, "extra": 1}, {}):
        r, _ = signed_branch_request(client, "POST", routes.UPLOADS, body)
        assert r.status_code == 400, body
        assert r.get_json()["error"].startswith("request"), r.get_json()
    assert _uploads(archive_rig) == 0


def test_the_typed_request_carries_exactly_the_signed_manifest(archive_rig: ArchiveRig) -> None:
    manifest = clip_manifest(archive_rig.key, secrets.token_bytes(64))
    wire = RegisterUpload(manifest=manifest).model_dump(mode="json")
    assert wire == {"manifest": json.loads(manifest.canonical_bytes())}
    back = RegisterUpload.from_wire(json.loads(json.dumps(wire))).manifest
    assert back.canonical_bytes() == manifest.canonical_bytes()
    back.verify(archive_rig.key.public_key_b64)
