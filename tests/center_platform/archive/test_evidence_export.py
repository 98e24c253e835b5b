"""The evidence package: what it holds, that its verify.py passes offline and fails on any tampering,
who may export, and that every export lands in the audit trail."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from center_platform.db.models import AuditEvent, Recording
from storage.manifest import ClipManifest
from storage.signing import SigningKey
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401

VERIFY_PY = Path(__file__).resolve().parents[3] / "center_platform" / "archive" / "export_verify" / "verify.py"


def load_verify_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("package_verify", VERIFY_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_zip(rig: ArchiveRig, clip_id: str) -> bytes:
    r = rig.login("compliance").post(f"/api/recordings/{clip_id}/export")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Content-Type"] == "application/zip"
    return r.data


def unzip(data: bytes, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder)
    return folder


def run_verify(folder: Path) -> subprocess.CompletedProcess[str]:
    """As an auditor would: an isolated interpreter without site-packages, inside the unzipped folder."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "verify.py"], cwd=folder, capture_output=True, text=True, timeout=120
    )


def resum(folder: Path) -> None:
    """Rewrites SHA256SUMS so that only the deeper checks can notice a change."""
    lines = []
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        name = line[66:]
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n")
    (folder / "SHA256SUMS").write_text("".join(lines))


@pytest.fixture()
def exported(archive_rig: ArchiveRig, tmp_path: Path) -> tuple[ArchiveRig, str, bytes, Path]:
    media = bytes(range(256)) * 64
    clip_id = archive_rig.archive(media=media, customer_name="王小明")
    viewer = archive_rig.login("compliance")
    assert viewer.get(f"/api/recordings/{clip_id}/media", headers={"Range": "bytes=0-99"}).status_code == 206
    data = export_zip(archive_rig, clip_id)
    return archive_rig, clip_id, media, unzip(data, tmp_path / "package")


def test_package_holds_the_evidence_and_verifies_offline(exported: tuple[ArchiveRig, str, bytes, Path]) -> None:
    rig, clip_id, media, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            f"{clip_id}.mp4",
            "manifest.json",
            "branch_public_key.txt",
            "audit.jsonl",
            "SHA256SUMS",
            "verify.py",
            "README.txt",
        ]
    )
    assert (folder / f"{clip_id}.mp4").read_bytes() == media
    with rig.sessions() as db:
        rec = db.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
        assert (folder / "manifest.json").read_text(encoding="utf-8") == rec.manifest_json
    ClipManifest.parse((folder / "manifest.json").read_bytes()).verify(
        (folder / "branch_public_key.txt").read_text().strip()
    )
    actions = [
        json.loads(line).get("action") for line in (folder / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert "ingest.registered" in actions
    assert "replay" in actions
    assert "chain_head" in json.loads((folder / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "python3 verify.py" in readme and "如何校验" in readme

    result = run_verify(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert result.stdout.strip().endswith("RESULT: PASS")
    assert "PASS  manifest Ed25519 signature by the branch key" in result.stdout
    if shutil.which("sha256sum"):
        assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder).returncode == 0


def _flip_clip_byte(folder: Path, clip_id: str) -> None:
    clip = folder / f"{clip_id}.mp4"
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0x01
    clip.write_bytes(bytes(data))


def _flip_manifest_byte(folder: Path, clip_id: str) -> None:
    path = folder / "manifest.json"
    path.write_bytes(path.read_bytes().replace("王小明".encode(), "王小朋".encode(), 1))
    resum(folder)


def _edit_audit_line(folder: Path, clip_id: str) -> None:
    path = folder / "audit.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[0])
    row["actor"] = "someone-else"
    lines[0] = json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    resum(folder)


def _sign_with_another_key(folder: Path, clip_id: str) -> None:
    """A forger re-signs the manifest and ships his own key: the key is not the branch's."""
    manifest = ClipManifest.parse((folder / "manifest.json").read_bytes())
    forged = manifest.model_copy(update={"signature": None}).signed(SigningKey.generate())
    (folder / "manifest.json").write_bytes(forged.canonical_bytes())
    sig = manifest.signature
    assert sig is not None
    # keep the branch key and its key id: only the signature itself is foreign
    doc = json.loads(forged.canonical_bytes())
    doc["signature"]["key_id"] = sig.key_id
    (folder / "manifest.json").write_bytes(
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    resum(folder)


@pytest.mark.parametrize(
    ("tamper", "expected_fail"),
    [
        (_flip_clip_byte, "FAIL  sha256 "),
        (_flip_manifest_byte, "FAIL  manifest Ed25519 signature by the branch key"),
        (_edit_audit_line, "content matches its hash: the row was edited"),
        (_sign_with_another_key, "FAIL  manifest Ed25519 signature by the branch key"),
    ],
    ids=["clip-byte", "manifest-byte", "audit-line", "other-key"],
)
def test_any_change_fails_the_check(exported: tuple[ArchiveRig, str, bytes, Path], tamper, expected_fail: str) -> None:  # type: ignore[no-untyped-def]
    _, clip_id, _, folder = exported
    tamper(folder, clip_id)
    result = run_verify(folder)
    assert result.returncode != 0
    assert expected_fail in result.stdout, result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("RESULT: FAIL")


def test_clip_change_is_caught_even_with_matching_sums(exported: tuple[ArchiveRig, str, bytes, Path]) -> None:
    _, clip_id, _, folder = exported
    _flip_clip_byte(folder, clip_id)
    resum(folder)
    result = run_verify(folder)
    assert result.returncode == 1
    assert "FAIL  clip SHA-256 matches the manifest" in result.stdout


def test_export_is_audited_with_the_package_hash(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    data = export_zip(archive_rig, clip_id)
    with archive_rig.sessions() as db:
        row = db.execute(
            select(AuditEvent).where(AuditEvent.target == clip_id, AuditEvent.action == "recording.exported")
        ).scalar_one()
    detail = json.loads(row.detail)
    assert row.actor == "compliance"
    assert detail["package_sha256"] == hashlib.sha256(data).hexdigest()
    assert detail["package_size"] == len(data)
    # the temporary zip is gone once handed out
    assert list((archive_rig.app.extensions["center"].config.server.data_dir / "exports").glob("*")) == []


@pytest.mark.parametrize("username", ["auditor", "b009admin", "b010admin", "sysadmin"])
def test_only_compliance_officers_export(archive_rig: ArchiveRig, username: str) -> None:
    clip_id = archive_rig.archive()
    assert archive_rig.login(username).post(f"/api/recordings/{clip_id}/export").status_code == 403
    assert archive_rig.app.test_client().post(f"/api/recordings/{clip_id}/export").status_code == 401
    with archive_rig.sessions() as db:
        assert db.execute(select(AuditEvent).where(AuditEvent.action == "recording.exported")).first() is None


def test_export_needs_the_csrf_token(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    client = archive_rig.login("compliance")
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    assert client.post(f"/api/recordings/{clip_id}/export").status_code == 403


def test_replay_roles_and_deleted_clips(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    media = f"/api/recordings/{clip_id}/media"
    assert archive_rig.login("b009admin").get(media, headers={"Range": "bytes=0-9"}).status_code == 206
    assert archive_rig.login("b010admin").get(media).status_code == 403
    assert archive_rig.login("b010admin").get(f"/recordings/{clip_id}").status_code == 403
    assert archive_rig.login("auditor").get(media).status_code == 403
    page = archive_rig.login("compliance").get(f"/recordings/{clip_id}")
    assert page.status_code == 200 and 'id="export-button"' in page.get_data(as_text=True)
    assert 'id="export-button"' not in archive_rig.login("b009admin").get(f"/recordings/{clip_id}").get_data(
        as_text=True
    )
    with archive_rig.sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id == clip_id).values(state="deleted"))
        db.commit()
    compliance = archive_rig.login("compliance")
    gone = compliance.get(media)
    assert gone.status_code == 410 and "deleted" in gone.get_data(as_text=True)
    assert compliance.get(f"/recordings/{clip_id}").status_code == 410
    r = compliance.post(f"/api/recordings/{clip_id}/export")
    assert r.status_code == 410 and "deleted" in r.get_json()["error"]


RFC8032_VECTORS = [  # (public key, message, signature) from RFC 8032 section 7.1
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("public", "message", "signature"), RFC8032_VECTORS)
def test_pure_python_ed25519_matches_rfc8032(public: str, message: str, signature: str) -> None:
    verify = load_verify_module()
    assert verify.ed25519_verify(bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature))
    bad = bytearray.fromhex(signature)
    bad[0] ^= 1
    assert not verify.ed25519_verify(bytes.fromhex(public), bytes.fromhex(message), bytes(bad))


def test_pure_python_ed25519_agrees_with_the_branch_signer() -> None:
    verify = load_verify_module()
    key, other = SigningKey.generate(), SigningKey.generate()
    message = "理财双录 manifest".encode() * 10
    public = base64.b64decode(key.public_key_b64)
    assert verify.ed25519_verify(public, message, key.sign(message))
    assert not verify.ed25519_verify(public, message, other.sign(message))
    assert not verify.ed25519_verify(public, message + b"!", key.sign(message))
    assert not verify.ed25519_verify(public, message, b"\x00" * 64)


def test_a_multi_part_clip_is_packaged_whole(archive_rig: ArchiveRig, tmp_path: Path) -> None:
    media = hashlib.sha256(b"seed").digest() * (11 * 1024 * 1024 // 32 + 7)  # three upload parts of 5 MB
    clip_id = archive_rig.archive(media=media)
    data = export_zip(archive_rig, clip_id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(f"{clip_id}.mp4")
        assert info.compress_type == zipfile.ZIP_STORED and info.file_size == len(media)
    folder = unzip(data, tmp_path / "package")
    assert (folder / f"{clip_id}.mp4").read_bytes() == media
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout


def test_a_clip_that_differs_from_the_catalogue_is_not_exported(archive_rig: ArchiveRig) -> None:
    clip_id = archive_rig.archive()
    with archive_rig.sessions() as db:
        db.execute(update(Recording).where(Recording.clip_id == clip_id).values(sha256="0" * 64))
        db.commit()
    r = archive_rig.login("compliance").post(f"/api/recordings/{clip_id}/export")
    assert r.status_code == 502
    assert "the catalogue holds" in r.get_json()["error"]
    with archive_rig.sessions() as db:
        actions = db.execute(select(AuditEvent.action).where(AuditEvent.target == clip_id)).scalars().all()
    assert "recording.export_failed" in actions and "recording.exported" not in actions
    leftovers = list((archive_rig.app.extensions["center"].config.server.data_dir / "exports").glob("*"))
    assert leftovers == []


def _manifest_sha256(rig: ArchiveRig, clip_id: str) -> str:
    with rig.sessions() as db:
        return db.execute(select(Recording.manifest_sha256).where(Recording.clip_id == clip_id)).scalar_one()


def test_the_package_shows_the_clip_in_its_branch_chain(archive_rig: ArchiveRig, tmp_path: Path) -> None:
    first = archive_rig.archive()
    middle = archive_rig.archive(prev_manifest_sha256=_manifest_sha256(archive_rig, first))
    last = archive_rig.archive(prev_manifest_sha256=_manifest_sha256(archive_rig, middle))
    folder = unzip(export_zip(archive_rig, middle), tmp_path / "package")
    assert json.loads((folder / "next_manifest.json").read_bytes())["clip_id"] == last
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout
    for line in (
        "PASS  chain: previous manifest is the one this manifest names",
        "PASS  chain: next manifest names this manifest",
        "PASS  chain: previous manifest signed by the branch key",
        "PASS  chain: next manifest signed by the branch key",
    ):
        assert line in result.stdout

    # A neighbour swapped for another of the branch's manifests no longer links.
    (folder / "previous_manifest.json").write_bytes((folder / "next_manifest.json").read_bytes())
    resum(folder)
    result = run_verify(folder)
    assert result.returncode == 1
    assert "FAIL  chain: previous manifest is the one this manifest names" in result.stdout
