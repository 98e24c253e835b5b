"""Verified ingest: register a signed manifest, hand out presigned part URLs, assemble, verify, lock, catalogue.

Order of commitment on complete: the store assembles the object (its version id is saved at once so a
retry after a crash verifies the same version), the center streams it back and hashes it, runs the
check list (`checks.CHECKS`: size, SHA-256, branch signature, manifest chain), sets COMPLIANCE
retention on that version, stores the manifest beside it, and only then writes the catalogue row and
the audit line in one transaction. A clip that fails any check stays unlocked and in quarantine with
every problem found; nothing unverified is catalogued.

Duplicates: a clip is one row here and one catalogue row however often, or however concurrently, a
branch registers or completes it. Two registrations racing each create a multipart upload; the loser's
is aborted. Completion of one clip is serialised (a per-clip lock in this process, a row lock in
PostgreSQL), so a retry never stores a second object version or a second manifest.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from center_platform.admin.signing_keys import key_for_manifest
from center_platform.archive.replay import index_row
from center_platform.audit import trail as audit
from center_platform.db.models import Branch, BranchHeartbeat, IngestUpload, Product, Recording, utcnow
from center_platform.db.quality_models import QualityFinding
from center_platform.ingest.catalogue_row import manifest_columns
from center_platform.ingest.checks import CheckReport, IngestContext, Problem, StoredMedia, run_checks
from center_platform.ingest.clock_bounds import ClockFacts, start_basis
from center_platform.ingest.keyed_locks import KeyedLocks
from center_platform.ingest.manifest_chain import check_chain, link_successors
from center_platform.ingest.object_keys import object_key
from center_platform.retention.rules import RetentionFacts, RetentionRule, decide, maturity_for
from center_platform.retention.sale_alignment import align_sale
from storage.contract.uploads import PartChecksum, PresignedPartUrl, PresignResponse, UploadOutcome, UploadPlan
from storage.manifest import ClipManifest, ManifestError
from storage.mp4_index import FragmentScanner
from storage.object_store import ObjectStore

log = logging.getLogger(__name__)


class IngestRejected(ValueError):
    """The request is wrong (bad manifest, unknown product, wrong branch): the message says what."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class IngestService:
    sessions: sessionmaker[Session]
    store: ObjectStore
    part_size: int
    presign_expiry_s: int
    # A clip waiting longer than this at its branch before upload is flagged (see clock_bounds).
    max_clip_age: timedelta = timedelta(days=30)
    # Completion of one clip is serialised in this process; the entry goes with its last holder.
    clip_locks: KeyedLocks = field(default_factory=KeyedLocks, repr=False)

    # -- register -------------------------------------------------------------------------------

    def register(self, branch_id: int, manifest: ClipManifest) -> UploadPlan:
        with self.sessions() as session:
            branch = session.get(Branch, branch_id)
            assert branch is not None
            if manifest.branch_code != branch.code:
                raise IngestRejected(f"manifest is from branch {manifest.branch_code}, request from {branch.code}", 403)
            signing_key, key_problem = key_for_manifest(session, branch, manifest)
            if key_problem:
                raise IngestRejected(key_problem)
            if not signing_key:
                raise IngestRejected(f"branch {branch.code} has no signing key enrolled at the center", 409)
            try:
                manifest.verify(signing_key)
            except ManifestError as exc:
                raise IngestRejected(str(exc)) from exc
            product = session.execute(select(Product).where(Product.code == manifest.product.code)).scalar_one_or_none()
            if product is None:
                raise IngestRejected(f"unknown product code {manifest.product.code!r}")

            canonical = manifest.canonical_bytes().decode("utf-8")
            existing = self._registered(session, manifest.clip_id, canonical)
            if existing is not None:
                return self._plan(session, existing)

            key = object_key(manifest, product.product_type.code)
            upload_id = self.store.create_multipart(key)
            row = IngestUpload(
                clip_id=manifest.clip_id,
                branch_id=branch.id,
                manifest_json=canonical,
                object_key=key,
                upload_id=upload_id,
                size=manifest.media.size,
                part_size=self.part_size,
                state="uploading",
            )
            session.add(row)
            try:
                session.flush()  # the unique clip id decides a race here, before anything else is written
            except IntegrityError:
                # Another request registered the same clip first: theirs stands, ours is withdrawn.
                session.rollback()
                self.store.abort_multipart(key, upload_id)
                existing = self._registered(session, manifest.clip_id, canonical)
                if existing is None:
                    raise
                return self._plan(session, existing)
            audit.append(
                session, f"branch:{branch.code}", "ingest.registered", manifest.clip_id, {"size": manifest.media.size}
            )
            session.commit()
            return self._plan(session, row)

    @staticmethod
    def _registered(session: Session, clip_id: str, canonical: str) -> IngestUpload | None:
        existing = session.execute(select(IngestUpload).where(IngestUpload.clip_id == clip_id)).scalar_one_or_none()
        if existing is not None and existing.manifest_json != canonical:
            raise IngestRejected(f"clip {clip_id} is already registered with a different manifest", 409)
        return existing

    def _plan(self, session: Session, row: IngestUpload) -> UploadPlan:
        count = part_count(row.size, row.part_size)
        stored: list[int] = []
        if row.state == "uploading" and row.version_id is not None:
            stored = list(range(1, count + 1))  # assembled, not yet verified: complete carries on from there
        elif row.state == "uploading" and row.upload_id:
            if self.store.upload_exists(row.object_key, row.upload_id):
                stored = [p.part_number for p in self.store.list_parts(row.object_key, row.upload_id)]
            elif self._stored_versions(row.object_key):
                # Assembled before a crash, version not yet saved: nothing left to send; complete verifies it.
                stored = list(range(1, count + 1))
            else:
                # The store dropped the unfinished upload (expiry, cleanup): start a new one.
                row.upload_id = self.store.create_multipart(row.object_key)
                audit.append(
                    session,
                    "center",
                    "ingest.restarted",
                    row.clip_id,
                    {"reason": "multipart upload no longer in the store"},
                )
                session.commit()
        return UploadPlan(
            clip_id=row.clip_id,
            state=row.state,
            size=row.size,
            part_size=row.part_size,
            part_count=count,
            stored_parts=stored,
            reason=row.reason,
        )

    def status(self, branch_id: int, clip_id: str) -> UploadPlan:
        with self.sessions() as session:
            return self._plan(session, self._upload(session, branch_id, clip_id))

    def _stored_versions(self, key: str) -> list[str]:
        # list_versions takes a prefix: the manifest beside the clip shares it.
        return [v.version_id for v in self.store.list_versions(key) if v.key == key]

    def _upload(self, session: Session, branch_id: int, clip_id: str, lock_row: bool = False) -> IngestUpload:
        query = select(IngestUpload).where(IngestUpload.clip_id == clip_id)
        if lock_row:
            query = query.with_for_update()  # PostgreSQL: another center process completing it waits here
        row = session.execute(query).scalar_one_or_none()
        if row is None or row.branch_id != branch_id:
            raise IngestRejected(f"no upload registered for clip {clip_id}", 404)
        return row

    # -- presign --------------------------------------------------------------------------------

    def presign(self, branch_id: int, clip_id: str, parts: list[PartChecksum]) -> PresignResponse:
        with self.sessions() as session:
            row = self._upload(session, branch_id, clip_id)
            if row.state != "uploading" or row.upload_id is None or row.version_id is not None:
                raise IngestRejected(f"clip {clip_id} is {row.state}; no parts are accepted", 409)
            count = part_count(row.size, row.part_size)
            urls = []
            for p in parts:
                if p.part_number > count:
                    raise IngestRejected(f"part {p.part_number} is beyond the clip's {count} parts")
                signed = self.store.presign_part(
                    row.object_key, row.upload_id, p.part_number, p.sha256_b64, self.presign_expiry_s
                )
                urls.append(PresignedPartUrl(part_number=signed.part_number, url=signed.url, headers=signed.headers))
            return PresignResponse(parts=urls, expires_in_s=self.presign_expiry_s)

    # -- complete -------------------------------------------------------------------------------

    def complete(self, branch_id: int, clip_id: str) -> UploadOutcome:
        with self.clip_locks.hold(clip_id), self.sessions() as session:
            row = self._upload(session, branch_id, clip_id, lock_row=True)
            if row.state == "verified":
                rec = session.execute(select(Recording).where(Recording.clip_id == clip_id)).scalar_one()
                return UploadOutcome(clip_id=clip_id, state="verified", retain_until=rec.retain_until.isoformat())
            if row.state == "quarantined":
                return UploadOutcome(clip_id=clip_id, state="quarantined", reason=row.reason)
            branch = session.get(Branch, row.branch_id)
            assert branch is not None
            if row.version_id is None:
                row.version_id = self._assemble(row)
                session.commit()
                row = self._upload(session, branch_id, clip_id, lock_row=True)
            return self._verify_and_catalogue(session, row, branch)

    @staticmethod
    def _branch_clock_offset(session: Session, branch_id: int) -> timedelta | None:
        """Center minus branch clock at the branch's last heartbeat, as the center measured it."""
        beat = session.execute(
            select(BranchHeartbeat).where(BranchHeartbeat.branch_id == branch_id)
        ).scalar_one_or_none()
        return None if beat is None else beat.received_at - beat.sent_at

    def _assemble(self, row: IngestUpload) -> str:
        assert row.upload_id is not None
        if not self.store.upload_exists(row.object_key, row.upload_id):
            # Completed before a crash, version not yet saved: the newest version under the key is ours
            # (keys carry the clip id, so nothing else writes there).
            versions = self._stored_versions(row.object_key)
            if not versions:
                raise IngestRejected(f"upload of {row.clip_id} vanished from the store; register again", 409)
            return self.store.head(row.object_key).version_id or versions[0]
        stored = self.store.list_parts(row.object_key, row.upload_id)
        expected = part_count(row.size, row.part_size)
        have = {p.part_number: p for p in stored}
        missing = [n for n in range(1, expected + 1) if n not in have]
        if missing:
            raise IngestRejected(f"clip {row.clip_id} is missing parts {missing[:20]}", 409)
        for n in range(1, expected + 1):
            want = row.part_size if n < expected else row.size - row.part_size * (expected - 1)
            if have[n].size != want:
                raise IngestRejected(f"clip {row.clip_id} part {n} has {have[n].size} bytes, expected {want}", 409)
        done = self.store.complete_multipart(row.object_key, row.upload_id, [have[n] for n in range(1, expected + 1)])
        return done.version_id

    def _verify_and_catalogue(self, session: Session, row: IngestUpload, branch: Branch) -> UploadOutcome:
        assert row.version_id is not None
        manifest = ClipManifest.parse(row.manifest_json)
        scanner = FragmentScanner()  # the clip's replay index, made from this same read of the object
        digest, size = self.store.sha256_hex(row.object_key, row.version_id, observe=scanner.feed)
        signing_key, key_problem = key_for_manifest(session, branch, manifest)
        report = run_checks(
            IngestContext(
                manifest=manifest,
                stored=StoredMedia(key=row.object_key, version_id=row.version_id, size=size, sha256=digest),
                branch_id=branch.id,
                branch_code=branch.code,
                branch_public_key=signing_key,
                session=session,
                store=self.store,
                signing_key_problem=key_problem,
            )
        )
        if not report.passed:
            return self._quarantine(session, row, branch, report)
        for note in report.notes:
            log.warning("clip %s from branch %s: %s", row.clip_id, branch.code, note)
        # The checks only judge; the chain's state recorded with the clip is asked for again here,
        # in the same transaction, so nothing has changed since the check read it.
        chain = check_chain(session, branch.id, manifest)

        product = session.execute(select(Product).where(Product.code == manifest.product.code)).scalar_one()
        ptype = product.product_type
        tz = ZoneInfo(branch.timezone)
        start = start_basis(
            ClockFacts(
                started_at=manifest.started_at,
                received_at=row.created_at,
                branch_offset=self._branch_clock_offset(session, branch.id),
                max_clip_age=self.max_clip_age,
            )
        )
        for flag in start.flags:
            log.error("ALERT clip %s from branch %s: %s", row.clip_id, branch.code, flag)
        purchase = start.basis.astimezone(tz).date()
        rule = RetentionRule(
            kind=ptype.retention_rule,
            years_after_maturity=ptype.years_after_maturity,
            years_after_purchase=ptype.years_after_purchase,
            years_after_redemption=ptype.years_after_redemption,
            years_after_dispute=ptype.years_after_dispute,
        )
        decision = decide(
            rule,
            RetentionFacts(
                purchase_date=purchase, maturity_date=maturity_for(purchase, product.maturity_date, product.term_days)
            ),
            tz,
        )
        self.store.set_retention(row.object_key, row.version_id, decision.retain_until)
        manifest_key = row.object_key + ".manifest.json"
        # A retry after a crash finds the manifest already stored (same bytes): lock that one, store no second.
        stored_manifests = self._stored_versions(manifest_key)
        manifest_version = (
            stored_manifests[0]
            if stored_manifests
            else (self.store.put_small(manifest_key, manifest.canonical_bytes(), "application/json").version_id)
        )
        self.store.set_retention(manifest_key, manifest_version, decision.retain_until)

        recording = Recording(
            **manifest_columns(manifest),
            branch_id=branch.id,
            product_id=product.id,
            product_type_id=ptype.id,
            manifest_json=row.manifest_json,
            object_key=row.object_key,
            version_id=row.version_id,
            state="archived",
            retention_rule=ptype.retention_rule,
            retain_until=decision.retain_until,
            retention_reason=decision.reason
            + (f" (counted from {start.basis.isoformat()}, not the branch's start time)" if start.flags else ""),
            verified_at=utcnow(),
            chain_status=chain.status,
        )
        session.add(recording)
        try:
            session.flush()
        except IntegrityError:
            # Another clip naming the same predecessor was catalogued between the check and now: a fork.
            session.rollback()
            row = self._upload(session, branch.id, manifest.clip_id, lock_row=True)
            fork = Problem(
                "manifest_chain",
                f"manifest chain fork: another clip already follows manifest {manifest.prev_manifest_sha256}",
            )
            return self._quarantine(session, row, branch, CheckReport(report.ran, report.skipped, [fork], report.notes))
        # What the manifest already tells (cut off, too short, moments missing) is searchable at once; the
        # analysis of picture and sound replaces these rows with its whole report.
        session.add_all(QualityFinding.of(recording.id, f) for f in report.findings)
        linked = link_successors(session, branch.id, recording.manifest_sha256)
        # A re-recorded, supplementary or imported clip of a sale already archived: kept as long as the rest.
        align_sale(session, self.store, recording, f"branch:{branch.code}")
        session.add(index_row(recording, scanner))
        row.state = "verified"
        audit.append(
            session,
            "center",
            "ingest.verified",
            row.clip_id,
            {
                "sha256": digest,
                "size": size,
                "retain_until": decision.retain_until.isoformat(),
                "rule": decision.reason,
                "chain": chain.status,
                "chain_note": chain.note,
                "successors_linked": linked,
                "checks": report.ran,
                "clock_flags": start.flags,
                "notes": report.notes,
            },
        )
        session.commit()
        return UploadOutcome(clip_id=row.clip_id, state="verified", retain_until=decision.retain_until.isoformat())

    @staticmethod
    def _quarantine(session: Session, row: IngestUpload, branch: Branch, report: CheckReport) -> UploadOutcome:
        reason = report.reason
        row.state = "quarantined"
        row.reason = reason
        audit.append(
            session,
            "center",
            "ingest.quarantined",
            row.clip_id,
            {
                "reason": reason,
                "problems": [{"code": p.code, "message": p.message} for p in report.problems],
                "notes": report.notes,
                "version_id": row.version_id,
            },
        )
        session.commit()
        log.error("ALERT clip %s from branch %s quarantined: %s", row.clip_id, branch.code, reason)
        return UploadOutcome(clip_id=row.clip_id, state="quarantined", reason=reason)


def part_count(size: int, part_size: int) -> int:
    return max(1, math.ceil(size / part_size))
