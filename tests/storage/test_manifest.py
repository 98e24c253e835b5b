"""The manifest: canonical bytes, Ed25519 signature, chain link, schema file, media hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from storage.manifest import SCHEMA_PATH, ClipManifest, ManifestError, schema_file_text, sha256_file, verify_media
from storage.signing import SigningKey


def make_manifest(media: Path, prev: str | None = None) -> ClipManifest:
    digest, size = sha256_file(media)
    start = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    return ClipManifest.model_validate(
        {
            "clip_id": "0123456789abcdef0123456789abcdef",
            "state": "completed",
            "branch_code": "B001",
            "counter_code": "C01",
            "staff_code": "1000001",
            "business_serial": "SN20260301-0001",
            "customer": {
                "name": "张三",
                "id_type": "resident_id",
                "id_number": "11010519491231002X",
                "card_number": "6222021234567890128",
            },
            "product": {"code": "WM-90D", "name": "稳健90天", "type_code": "FIXED"},
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(seconds=10)).isoformat(),
            "duration_ms": 10000,
            "media": {
                "file_name": media.name,
                "size": size,
                "sha256": digest,
                "video_codec": "h264",
                "width": 1920,
                "height": 1080,
                "fps": 25,
                "audio_codec": "aac",
                "sample_rate": 48000,
            },
            "prev_manifest_sha256": prev,
        }
    )


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x01" * 5000)
    return path


def test_signed_manifest_verifies_and_round_trips(media: Path) -> None:
    key = SigningKey.generate()
    signed = make_manifest(media).signed(key)
    signed.verify(key.public_key_b64)
    again = ClipManifest.parse(signed.canonical_bytes())
    assert again.canonical_bytes() == signed.canonical_bytes()
    assert again.manifest_sha256() == signed.manifest_sha256()
    assert "张三" in signed.canonical_bytes().decode("utf-8")  # UTF-8, not \\u escapes


def test_any_change_breaks_the_signature(media: Path) -> None:
    key = SigningKey.generate()
    signed = make_manifest(media).signed(key)
    tampered = signed.model_copy(update={"business_serial": "SN20260301-0002"})
    with pytest.raises(ManifestError, match="signature"):
        tampered.verify(key.public_key_b64)
    with pytest.raises(ManifestError, match="not the branch's key"):
        signed.verify(SigningKey.generate().public_key_b64)


def test_chain_links_to_previous_manifest(media: Path) -> None:
    key = SigningKey.generate()
    first = make_manifest(media).signed(key)
    second = make_manifest(media, prev=first.manifest_sha256()).signed(key)
    assert second.prev_manifest_sha256 == first.manifest_sha256()


def test_media_altered_by_one_byte_fails(media: Path) -> None:
    manifest = make_manifest(media)
    verify_media(manifest, media)
    data = bytearray(media.read_bytes())
    data[100] ^= 0x01
    media.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="SHA-256"):
        verify_media(manifest, media)


def test_schema_file_is_current_and_validates_manifests(media: Path) -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_file_text(), "regenerate storage/manifest.schema.json"
    doc = json.loads(make_manifest(media).signed(SigningKey.generate()).canonical_bytes())
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    doc["unexpected"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_naive_time_and_bad_fields_are_named(media: Path) -> None:
    raw = json.loads(make_manifest(media).model_dump_json())
    raw["started_at"] = "2026-03-01T01:30:00"
    with pytest.raises(ManifestError, match="started_at"):
        ClipManifest.parse(raw)
    raw = json.loads(make_manifest(media).model_dump_json())
    raw["customer"]["card_number"] = "12ab"
    with pytest.raises(ManifestError, match=r"customer\.card_number"):
        ClipManifest.parse(raw)


def test_manifests_written_before_the_origin_members_keep_their_bytes(media: Path) -> None:
    key = SigningKey.generate()
    signed = make_manifest(media).signed(key)
    text = signed.canonical_bytes().decode("utf-8")
    for member in ("origin", "earlier_clip_id", "supplementary", "imported", "consent", "markers_missing_reason"):
        assert f'"{member}"' not in text
    # Read back by a reader that knows the new members: same bytes, same signature, same chain hash.
    again = ClipManifest.parse(signed.canonical_bytes())
    again.verify(key.public_key_b64)
    assert again.manifest_sha256() == signed.manifest_sha256()


def test_supplementary_recording_carries_reason_and_time_of_sale_under_the_signature(media: Path) -> None:
    key = SigningKey.generate()
    base = json.loads(make_manifest(media).model_dump_json())
    sale_at = "2026-02-27T02:00:00+00:00"
    supplementary = ClipManifest.parse(
        {
            **base,
            "origin": "supplementary",
            "supplementary": {"reason": "原录像中断", "sale_at": sale_at},
            "earlier_clip_id": "f" * 32,
            "consent": {"at_ms": 1200, "given_at": "2026-03-01T01:30:01+00:00"},
        }
    ).signed(key)
    supplementary.verify(key.public_key_b64)
    doc = json.loads(supplementary.canonical_bytes())
    assert doc["origin"] == "supplementary" and doc["supplementary"]["reason"] == "原录像中断"
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    moved = supplementary.model_copy(
        update={"supplementary": supplementary.supplementary.model_copy(update={"reason": "另一个原因"})}  # type: ignore[union-attr]
    )
    with pytest.raises(ManifestError, match="signature"):
        moved.verify(key.public_key_b64)


@pytest.mark.parametrize(
    ("members", "complaint"),
    [
        ({"origin": "supplementary"}, "reason and time of sale"),
        ({"supplementary": {"reason": "x", "sale_at": "2026-02-27T02:00:00+00:00"}}, "reason and time of sale"),
        (
            {"origin": "supplementary", "supplementary": {"reason": "", "sale_at": "2026-02-27T02:00:00+00:00"}},
            "reason",
        ),
        ({"origin": "imported"}, "where it came from"),
        ({"origin": "re_recorded"}, "names the clip it follows"),
    ],
)
def test_an_unexplained_origin_is_refused(media: Path, members: dict[str, object], complaint: str) -> None:
    base = json.loads(make_manifest(media).model_dump_json())
    with pytest.raises(ManifestError, match=complaint):
        ClipManifest.parse({**base, **members})
