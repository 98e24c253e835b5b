"""The evidence package: one clip as a zip a court or auditor can check offline.

The zip holds the clip (the exact bytes of the locked version), its signed manifest, the branch's
public key that signed it (the version its key id names, kept however often the branch's key has been
replaced since; every version when a neighbouring manifest was signed by another), the clip's audit
extract with the chain head, SHA256SUMS, a standalone verify.py and a README. It is written to a
temporary file, never to memory, because clips run to gigabytes; the clip is copied from the store in
chunks and hashed on the way, so a package whose clip differs from the catalogue is never handed out.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.admin import signing_keys
from center_platform.db.models import AuditEvent, AuditHead, Branch, Recording, utcnow
from storage.object_store import ObjectStore, StorageError

VERIFY_SCRIPT = Path(__file__).with_name("export_verify") / "verify.py"
_COPY_CHUNK = 1024 * 1024


class ExportFailed(RuntimeError):
    """The package could not be made faithfully; the message says why."""


@dataclass(frozen=True)
class EvidencePackage:
    path: Path
    download_name: str
    sha256: str
    size: int
    audit_rows: int
    exported_at: datetime


def package_readme(rec: Recording, branch: Branch, exported_at: datetime, exported_by: str) -> str:
    return f"""双录证据包 / Dual-recording evidence package
================================================

业务单号 Business serial: {rec.business_serial}
录像编号 Clip id:         {rec.clip_id}
网点 Branch:              {branch.code} {branch.name}
导出时间 Exported at:      {exported_at.isoformat()} (UTC)
导出人 Exported by:        {exported_by}

内容 Contents
-------------
{rec.clip_id}.mp4        录像文件，与归档中锁定版本逐字节相同。
                         The clip, byte for byte the locked version in the archive.
manifest.json            网点签名的录像清单（规范化 JSON）：客户、产品、时间、文件大小与 SHA-256、
                         上一条清单的哈希（链）。
                         The branch-signed manifest (canonical JSON): customer, product, times, file
                         size and SHA-256, and the hash of the branch's previous manifest (the chain).
branch_public_key.txt    签署本清单的网点 Ed25519 公钥（Base64）。The branch's Ed25519 public key (base64)
                         that signed this manifest.
branch_keys.json         前后清单由网点另一把密钥签署时附上：网点各版本公钥及其有效期。
                         When a neighbouring manifest was signed by another of the branch's keys: every
                         version of the branch's key, with when it was valid.
previous_manifest.json   链中前一条与后一条清单（归档中有时才附上）。
next_manifest.json       The branch's manifests just before and after this one in its chain (when the
                         archive holds them).
audit.jsonl              该录像的审计记录（每行含 prev_hash 与 hash），末行为导出时的审计链头。
                         The clip's audit events (each with prev_hash and hash); the last line is the
                         audit chain head at export time.
SHA256SUMS               以上全部文件的 SHA-256。The SHA-256 of every file above.
verify.py                离线校验脚本，仅需 Python 3 标准库。Offline checker, Python 3 standard library only.

如何校验 How to check
---------------------
  python3 verify.py          (在解压后的目录中运行 / run in the unzipped folder)
  sha256sum -c SHA256SUMS    (可选，仅校验文件哈希 / optional, file hashes only)

verify.py 逐项输出 PASS/FAIL，全部通过时退出码为 0。它校验：
verify.py prints PASS/FAIL per check and exits 0 only if all pass. It checks:
  1. 每个文件与 SHA256SUMS 一致；Every file against SHA256SUMS.
  2. 录像文件的大小与 SHA-256 与清单一致；The clip's size and SHA-256 against the manifest.
  3. 清单的 Ed25519 签名可由所附网点公钥验证（RFC 8032）；
     The manifest's Ed25519 signature verifies with the included branch key (RFC 8032).
  4. 清单链：前一条清单的哈希等于本清单记载的 prev_manifest_sha256，后一条清单指向本清单，二者均由网点签名；
     The manifest chain: the previous manifest hashes to this one's prev_manifest_sha256, the next one
     names this one, and both carry the branch's signature.
  5. 每条审计记录的哈希可由其内容与 prev_hash 重新算出；在中心审计链中相邻的记录彼此衔接。
     Each audit row's hash is recomputed from its content and prev_hash; rows adjacent in the
     center's trail link to each other.

能证明什么 What this proves
---------------------------
- 录像自网点签名以来未被改动：录像哈希写在清单里，清单由网点私钥签名。
  The clip is unchanged since the branch signed it: its hash is in the manifest, which the branch's
  private key signed. Whether the public key really is the branch's is confirmed with the bank
  (the key id is the first 16 hex digits of the key's SHA-256).
- 清单链表明网点在本录像前后没有删改录像：前后清单经网点签名且彼此以哈希相连。
  The chain shows the branch neither dropped nor rewrote a clip next to this one: the neighbouring
  manifests are signed by the branch and linked to this one by hash.
- 每条审计记录的内容与其哈希相符。审计摘录只含本录像的记录，不是整条链：它不能单独证明没有记录被略去；
  将这些哈希与链头交给中心执行 `python -m center_platform audit verify` 即可确认它们仍在完整的链中。
  Each audit row's content matches its hash. The extract holds only this clip's rows, not the whole
  chain, so on its own it cannot prove that no row was left out; the center confirms the hashes and
  the chain head against its full trail (`python -m center_platform audit verify`).
- SHA256SUMS 可发现意外损坏，但不能防止有意替换整个包；本包自身的 SHA-256 已记入中心审计链
  （recording.exported），可向中心核对。
  SHA256SUMS catches accidental damage, not a wholesale substitution; the SHA-256 of this zip is
  recorded in the center's audit trail (recording.exported) and can be checked there.
"""


def audit_extract(db: Session, clip_id: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The clip's audit rows exactly as hashed, and the chain head they belong to."""
    rows = db.execute(select(AuditEvent).where(AuditEvent.target == clip_id).order_by(AuditEvent.id)).scalars().all()
    head = db.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    # `at` goes out as the very string the hash was computed over (see audit.event_hash).
    extract = [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "detail": r.detail,
            "prev_hash": r.prev_hash,
            "hash": r.hash,
        }
        for r in rows
    ]
    return extract, {"hash": head.last_hash, "count": head.count}


def chain_neighbours(db: Session, rec: Recording) -> dict[str, bytes]:
    """The signed manifests on either side of this one in the branch's chain, where the archive holds them."""
    found: dict[str, bytes] = {}
    if rec.prev_manifest_sha256:
        before = db.execute(
            select(Recording.manifest_json)
            .where(Recording.branch_id == rec.branch_id, Recording.manifest_sha256 == rec.prev_manifest_sha256)
            .limit(1)
        ).scalar_one_or_none()
        if before is not None:
            found["previous_manifest.json"] = before.encode("utf-8")
    after = db.execute(
        select(Recording.manifest_json)
        .where(Recording.branch_id == rec.branch_id, Recording.prev_manifest_sha256 == rec.manifest_sha256)
        .limit(1)
    ).scalar_one_or_none()
    if after is not None:
        found["next_manifest.json"] = after.encode("utf-8")
    return found


def _copy_clip(store: ObjectStore, rec: Recording, out: IO[bytes]) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        read = store.read_range(rec.object_key, rec.version_id, 0, None, chunk=_COPY_CHUNK)
        for block in read.body:
            digest.update(block)
            out.write(block)
            size += len(block)
    except (StorageError, OSError) as exc:
        raise ExportFailed(f"reading clip {rec.clip_id} from the archive failed: {exc}") from exc
    except Exception as exc:  # botocore stream errors surface mid-iteration with their own types
        raise ExportFailed(f"reading clip {rec.clip_id} from the archive failed mid-stream: {exc}") from exc
    if size != rec.size or digest.hexdigest() != rec.sha256:
        raise ExportFailed(
            f"clip {rec.clip_id}: the archive returned {size} bytes with SHA-256 {digest.hexdigest()}, "
            f"the catalogue holds {rec.size} bytes with {rec.sha256}"
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_COPY_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _key_id(manifest_json: str | bytes) -> str:
    try:
        sig = json.loads(manifest_json).get("signature") or {}
    except (ValueError, AttributeError):
        return ""
    return str(sig.get("key_id", "")) if isinstance(sig, dict) else ""


def branch_keys(db: Session, branch: Branch, rec: Recording, neighbours: dict[str, bytes]) -> dict[str, bytes]:
    """branch_public_key.txt: the key that signed the clip; branch_keys.json: every version, when a
    neighbour was signed by another key."""
    key_id = _key_id(rec.manifest_json)
    version = signing_keys.by_key_id(db, branch, key_id)
    if version is None:
        raise ExportFailed(f"the key that signed clip {rec.clip_id} ({key_id or 'none named'}) is not on record")
    files = {"branch_public_key.txt": (version.public_key + "\n").encode("ascii")}
    if any(_key_id(m) != key_id for m in neighbours.values()):
        every = [signing_keys.key_view(v) for v in signing_keys.versions(db, branch)]
        files["branch_keys.json"] = json.dumps(every, indent=1, sort_keys=True).encode("ascii")
    return files


def build_package(db: Session, store: ObjectStore, rec: Recording, exported_by: str, work_dir: Path) -> EvidencePackage:
    """Writes the zip into work_dir; the caller owns (and removes) the file."""
    branch = db.get(Branch, rec.branch_id)
    if branch is None:
        raise ExportFailed(f"branch of clip {rec.clip_id} is not on record")
    exported_at = utcnow()
    stamp = exported_at.timetuple()[:6]
    manifest = rec.manifest_json.encode("utf-8")
    rows, head = audit_extract(db, rec.clip_id)
    audit_lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    audit_lines += json.dumps({"chain_head": {**head, "at": exported_at.isoformat()}}, sort_keys=True) + "\n"
    neighbours = chain_neighbours(db, rec)
    small: dict[str, bytes] = {
        "manifest.json": manifest,
        **branch_keys(db, branch, rec, neighbours),
        "audit.jsonl": audit_lines.encode("utf-8"),
        **neighbours,
        "verify.py": VERIFY_SCRIPT.read_bytes(),
        "README.txt": package_readme(rec, branch, exported_at, exported_by).encode("utf-8"),
    }
    clip_name = f"{rec.clip_id}.mp4"
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"evidence-{rec.clip_id}-", suffix=".zip", dir=work_dir)
    path = Path(tmp)
    try:
        with os.fdopen(fd, "w+b") as fh, zipfile.ZipFile(fh, "w", allowZip64=True) as zf:
            info = zipfile.ZipInfo(clip_name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED  # video does not compress
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                _copy_clip(store, rec, member)
            sums = [f"{rec.sha256}  {clip_name}\n"]
            for name, data in small.items():
                sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
                _write_small(zf, name, data, stamp)
            _write_small(zf, "SHA256SUMS", "".join(sums).encode("ascii"), stamp)
        return EvidencePackage(
            path=path,
            download_name=f"evidence-{rec.business_serial}-{rec.clip_id}.zip",
            sha256=_file_sha256(path),
            size=path.stat().st_size,
            audit_rows=len(rows),
            exported_at=exported_at,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_small(zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]) -> None:
    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if name.endswith(".py") else 0o644) << 16
    zf.writestr(info, data)
