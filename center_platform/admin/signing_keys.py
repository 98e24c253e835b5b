"""A branch's manifest-signing keys as versions: which key vouches for which clip.

A branch signs every manifest with its Ed25519 key and names the key in the signature (`key_id`, the
first 16 hex digits of the key's SHA-256). When a key is replaced (with a second system admin's
approval) the old version is closed at that moment and kept for ever: a clip it signed while it was
valid still verifies at ingest, however late it arrives, and its evidence package ships that key. A
manifest naming a key that was not the branch's when the clip says it was recorded is refused.

A branch enrolled before versions were kept may have no row for its current key; that key then counts
as valid from the start, and gets its row when it is first replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from center_platform.db.models import Branch, BranchSigningKey
from storage.manifest import ClipManifest
from storage.signing import key_id_for

ENROLMENT = "enrolment"


@dataclass(frozen=True)
class KeyVersion:
    key_id: str
    public_key: str
    valid_from: datetime | None  # None: from the start
    valid_to: datetime | None  # None: still the branch's key
    proposed_by: str
    approved_by: str

    def valid_at(self, when: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (self.valid_to is None or when < self.valid_to)

    def span(self) -> str:
        start = self.valid_from.isoformat() if self.valid_from else "the start"
        end = self.valid_to.isoformat() if self.valid_to else "now"
        return f"from {start} to {end}"


def _version(row: BranchSigningKey) -> KeyVersion:
    return KeyVersion(row.key_id, row.public_key, row.valid_from, row.valid_to, row.proposed_by, row.approved_by)


def _rows(db: Session, branch_id: int) -> list[BranchSigningKey]:
    q = select(BranchSigningKey).where(BranchSigningKey.branch_id == branch_id).order_by(BranchSigningKey.id)
    return list(db.execute(q).scalars())


def versions(db: Session, branch: Branch) -> list[KeyVersion]:
    """Every key the branch has had, oldest first, its current key last."""
    found = [_version(r) for r in _rows(db, branch.id)]
    current = branch.signing_public_key
    if current and not any(v.public_key == current for v in found):
        found.append(KeyVersion(key_id_for(current), current, None, None, "", ENROLMENT))
    return found


def key_view(v: KeyVersion) -> dict[str, Any]:
    return {
        "key_id": v.key_id,
        "public_key": v.public_key,
        "valid_from": v.valid_from.isoformat() if v.valid_from else None,
        "valid_to": v.valid_to.isoformat() if v.valid_to else None,
        "proposed_by": v.proposed_by,
        "approved_by": v.approved_by,
    }


def by_key_id(db: Session, branch: Branch, key_id: str) -> KeyVersion | None:
    return next((v for v in versions(db, branch) if v.key_id == key_id), None)


def key_for_manifest(db: Session, branch: Branch, manifest: ClipManifest) -> tuple[str, str]:
    """(public key, "") for the key the manifest names, if it was the branch's when the clip was recorded;
    ("", why not) otherwise; ("", "") when the branch has no key at all."""
    return pick(versions(db, branch), branch.code, manifest)


def pick(known: list[KeyVersion], branch_code: str, manifest: ClipManifest) -> tuple[str, str]:
    """key_for_manifest among versions already read."""
    if not known:
        return "", ""
    if manifest.signature is None:
        return "", f"manifest {manifest.clip_id} is not signed"
    key_id = manifest.signature.key_id
    version = next((v for v in known if v.key_id == key_id), None)
    if version is None:
        return "", f"manifest {manifest.clip_id} is signed by key {key_id}, not a key of branch {branch_code}"
    if not version.valid_at(manifest.started_at):
        return "", (
            f"manifest {manifest.clip_id} is signed by key {key_id}, which was branch {branch_code}'s key "
            f"{version.span()}, not when the clip says it was recorded ({manifest.started_at.isoformat()})"
        )
    return version.public_key, ""


def enrol(db: Session, branch: Branch, actor: str) -> None:
    """The first key of a newly enrolled branch: valid from the start."""
    if branch.signing_public_key:
        db.add(
            BranchSigningKey(
                branch_id=branch.id,
                key_id=key_id_for(branch.signing_public_key),
                public_key=branch.signing_public_key,
                valid_from=None,
                proposed_by=actor,
                approved_by=ENROLMENT,
            )
        )


def was_retired(db: Session, branch: Branch, public_key: str) -> bool:
    """A key the branch had and gave up: it never comes back (whoever has it now is not the branch)."""
    key_id = key_id_for(public_key)
    return any(v.key_id == key_id and v.valid_to is not None for v in versions(db, branch))


def replace(
    db: Session, branch: Branch, new_key: str, *, valid_from: datetime, at: datetime, proposed_by: str, approved_by: str
) -> None:
    """The branch's key becomes `new_key` (valid from `valid_from`); the old one is closed at `at` and kept."""
    rows = _rows(db, branch.id)
    current = branch.signing_public_key
    if current and not any(r.public_key == current for r in rows):
        db.add(
            BranchSigningKey(
                branch_id=branch.id,
                key_id=key_id_for(current),
                public_key=current,
                valid_from=None,
                proposed_by="",
                approved_by=ENROLMENT,
                created_at=branch.created_at,
            )
        )
        db.flush()
        rows = _rows(db, branch.id)
    for row in rows:
        if row.valid_to is None:
            row.valid_to = at
    db.add(
        BranchSigningKey(
            branch_id=branch.id,
            key_id=key_id_for(new_key),
            public_key=new_key,
            valid_from=valid_from,
            proposed_by=proposed_by,
            approved_by=approved_by,
        )
    )
    branch.signing_public_key = new_key
    db.flush()
