"""The catalogue's recordings rebuilt from the store, where the evidence is the truth.

    python -m center_platform rebuild [--prefix clips/FIXED/B001/ --prefix clips/B001/] [--verify-hashes]
        [--report FILE]

For a database that holds the configuration (branches with their signing keys, product types and
products: restored from a backup, or entered again) but lost its recordings. The store's clip keys
are listed a page at a time with their `.manifest.json` siblings; each manifest must parse, be signed
by its branch's key, name a known branch and product, and sit beside its media, whose size (and with
`--verify-hashes` its SHA-256) must be the manifest's. The recording is then catalogued again with
retain-until and legal hold read back from the store's Object Lock (the store's lock is the
enforcement: the catalogue is never shorter than it) and its place in the branch's manifest chain
worked out again. A clip already catalogued is skipped, so a run cut off is simply run again.

What is not rebuilt is reported with its key and why (`KINDS`); one audit line per run carries the
counts. Media is read back only with `--verify-hashes`; without it a clip costs three store requests.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from center_platform.admin import signing_keys
from center_platform.audit import trail as audit
from center_platform.config import CenterConfig
from center_platform.db.models import ARCHIVED, Branch, Product, Recording, utcnow
from center_platform.ingest.catalogue_row import manifest_columns
from center_platform.ingest.manifest_chain import FIRST, RESTARTED, check_chain, link_successors
from center_platform.ingest.object_keys import fits_manifest
from center_platform.retention.events import MANIFEST_SUFFIX, rule_of
from center_platform.retention.rules import RetentionError, RetentionFacts, decide, maturity_for
from storage.manifest import ClipManifest, ManifestError
from storage.object_store import ObjectInfo, ObjectStore, StorageError

log = logging.getLogger(__name__)

CLIP_PREFIX = "clips/"
PAGE = 500  # keys listed, and clips catalogued in one transaction
STORE_THREADS = 8  # store requests in flight at once
MAX_MANIFEST_BYTES = 256 * 1024

# Why a clip was not rebuilt.
KINDS = {
    "manifest_missing": "an object in the store without its signed manifest",
    "missing_media": "a manifest whose media is not in the store",
    "bad_manifest": "a manifest that cannot be read or parsed",
    "unsigned": "a manifest without a signature",
    "bad_signature": "a signature that is not the branch's key or does not verify",
    "unknown_branch": "a manifest of a branch this catalogue does not have",
    "unknown_product": "a manifest of a product this catalogue does not have",
    "misplaced": "a manifest stored under another clip's key",
    "size_mismatch": "media whose size is not the manifest's",
    "hash_mismatch": "media whose SHA-256 is not the manifest's",
    "not_locked": "media without an Object Lock retention date",
    "chain_fork": "a second clip following the same manifest of its branch",
    "store_error": "the store did not answer",
}


@dataclass(frozen=True)
class NotRebuilt:
    kind: str  # one of KINDS
    key: str
    clip_id: str
    detail: str


@dataclass
class RebuildReport:
    prefix: str
    verify_hashes: bool
    keys_listed: int = 0
    clips_seen: int = 0
    rebuilt: int = 0
    already_present: int = 0
    legal_holds: int = 0
    not_rebuilt: list[NotRebuilt] = field(default_factory=list)
    seconds: float = 0.0

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.not_rebuilt:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        return dict(sorted(counts.items()))

    def counts(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "verify_hashes": self.verify_hashes,
            "keys_listed": self.keys_listed,
            "clips_seen": self.clips_seen,
            "rebuilt": self.rebuilt,
            "already_present": self.already_present,
            "legal_holds": self.legal_holds,
            "not_rebuilt": len(self.not_rebuilt),
            "not_rebuilt_by_kind": self.by_kind(),
        }

    def to_json(self) -> dict[str, object]:
        return {
            **self.counts(),
            "seconds": round(self.seconds, 3),
            "kinds": KINDS,
            "problems": [asdict(p) for p in self.not_rebuilt],
        }

    def lines(self) -> list[str]:
        out = [f"not rebuilt: {p.kind}: {p.key}: {p.detail}" for p in self.not_rebuilt]
        kinds = ", ".join(f"{k} {n}" for k, n in self.by_kind().items())
        out.append(
            f"{self.rebuilt} recording(s) rebuilt ({self.legal_holds} under legal hold), "
            f"{self.already_present} already catalogued, {len(self.not_rebuilt)} not rebuilt"
            + (f" ({kinds})" if kinds else "")
            + f"; {self.keys_listed} key(s) listed under {self.prefix} in {self.seconds:.1f} s"
        )
        return out


@dataclass(frozen=True)
class Pair:
    """A clip as listed: its media key and its manifest key, either of which may be absent."""

    media_key: str | None
    manifest_key: str | None

    @property
    def key(self) -> str:
        return self.media_key or self.manifest_key or ""

    @property
    def clip_id(self) -> str:
        name = self.key.rsplit("/", 1)[-1]
        if name.endswith(MANIFEST_SUFFIX):
            name = name[: -len(MANIFEST_SUFFIX)]
        return name.removesuffix(".mp4")


def listed_pairs(store: ObjectStore, prefix: str, page: int = PAGE) -> Iterator[tuple[int, Pair]]:
    """(keys listed so far, pair) for every clip under `prefix`, reading the listing a page at a time.

    A clip and its manifest are in the same folder (`<...>/<yyyy>/<mm>/<dd>/`, ingest.object_keys), and a store
    lists a folder's keys together, though not always in plain key order (SeaweedFS lists a versioned
    object's key where its versions folder sorts). So keys wait for their sibling until the listing
    leaves their folder: at most one day of one branch is held at once.
    """
    folder = ""
    media: dict[str, None] = {}  # media keys still waiting for their manifest, in listing order
    manifests: dict[str, str] = {}  # media key -> manifest key, still waiting for the media
    listed = 0

    def leftovers() -> Iterator[Pair]:
        yield from (Pair(m, None) for m in media)
        yield from (Pair(None, k) for k in manifests.values())
        media.clear()
        manifests.clear()

    for keys in store.key_pages(prefix, page):
        for k in keys:
            listed += 1
            here = k.rsplit("/", 1)[0]
            if here != folder:
                yield from ((listed, p) for p in leftovers())
                folder = here
            if k.endswith(MANIFEST_SUFFIX):
                clip = k[: -len(MANIFEST_SUFFIX)]
                if clip in media:
                    del media[clip]
                    yield listed, Pair(clip, k)
                else:
                    manifests[clip] = k
            elif k in manifests:
                yield listed, Pair(k, manifests.pop(k))
            else:
                media[k] = None
    yield from ((listed, p) for p in leftovers())


@dataclass
class Fetched:
    pair: Pair
    media: ObjectInfo | None = None
    manifest: ObjectInfo | None = None
    manifest_bytes: bytes = b""
    media_sha256: str = ""
    error: str = ""


def _fetch(store: ObjectStore, pair: Pair, verify_hashes: bool) -> Fetched:
    """What the store holds for one clip: heads of both objects and the manifest's bytes."""
    got = Fetched(pair)
    try:
        if pair.media_key:
            got.media = store.head(pair.media_key)
        if pair.manifest_key:
            got.manifest = store.head(pair.manifest_key)
            if got.manifest.size > MAX_MANIFEST_BYTES or got.manifest.size == 0 or not got.manifest.version_id:
                return got
            read = store.read_range(pair.manifest_key, got.manifest.version_id, 0, got.manifest.size - 1)
            try:
                got.manifest_bytes = b"".join(read.body)
            finally:
                read.close()
        if verify_hashes and got.media is not None and got.media.version_id and got.manifest_bytes:
            got.media_sha256, _ = store.sha256_hex(pair.media_key or "", got.media.version_id)
    except StorageError as exc:
        got.error = str(exc)
    return got


class _Refused(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass
class _Catalogue:
    """The configuration the clips are checked against, read once per run."""

    branches: dict[str, Branch]
    products: dict[str, Product]
    # Branch id -> every version of its signing key (admin.signing_keys): a replaced key still vouches.
    keys: dict[int, list[signing_keys.KeyVersion]]
    # Branch id -> clips rebuilt in this run that start a chain (the first or a restart is decided at the end).
    chain_starts: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, db: Session) -> _Catalogue:
        branches = {b.code: b for b in db.execute(select(Branch)).scalars()}
        products = {p.code: p for p in db.execute(select(Product)).scalars()}
        for p in products.values():
            _ = p.product_type  # loaded now, used after later commits
        keys = {b.id: signing_keys.versions(db, b) for b in branches.values()}
        return cls(branches, products, keys)


def _checked(got: Fetched, cat: _Catalogue) -> tuple[ClipManifest, Branch, Product]:
    if got.error:
        raise _Refused("store_error", got.error)
    if got.manifest is None:
        raise _Refused("manifest_missing", f"no {MANIFEST_SUFFIX} beside it")
    if not got.manifest_bytes:
        raise _Refused("bad_manifest", f"manifest of {got.manifest.size} bytes not read")
    try:
        manifest = ClipManifest.parse(got.manifest_bytes)
    except ManifestError as exc:
        raise _Refused("bad_manifest", str(exc)) from exc
    if manifest.signature is None:
        raise _Refused("unsigned", f"manifest {manifest.clip_id} is not signed")
    branch = cat.branches.get(manifest.branch_code)
    if branch is None:
        raise _Refused("unknown_branch", f"branch {manifest.branch_code} is not in the catalogue")
    # The key the manifest names, if it was the branch's when the clip was recorded.
    key, why = signing_keys.pick(cat.keys.get(branch.id, []), branch.code, manifest)
    if why:
        raise _Refused("bad_signature", why)
    if not key:
        raise _Refused("bad_signature", f"branch {branch.code} has no signing key enrolled")
    try:
        manifest.verify(key)
    except ManifestError as exc:
        raise _Refused("bad_signature", str(exc)) from exc
    product = cat.products.get(manifest.product.code)
    if product is None:
        raise _Refused("unknown_product", f"product {manifest.product.code} is not in the catalogue")
    if got.media is None:
        raise _Refused(
            "missing_media",
            f"the media {got.pair.manifest_key and got.pair.manifest_key[: -len(MANIFEST_SUFFIX)]} is not in the store",
        )
    if got.pair.media_key is None or not fits_manifest(got.pair.media_key, manifest):
        raise _Refused("misplaced", f"manifest of clip {manifest.clip_id} is not at its own clip's key")
    if got.media.size != manifest.media.size:
        raise _Refused("size_mismatch", f"media has {got.media.size} bytes, the manifest says {manifest.media.size}")
    if got.media_sha256 and got.media_sha256 != manifest.media.sha256:
        raise _Refused("hash_mismatch", f"media SHA-256 {got.media_sha256}, the manifest says {manifest.media.sha256}")
    if got.media.retain_until is None:
        raise _Refused("not_locked", "the media has no Object Lock retention")
    return manifest, branch, product


def _retention(manifest: ClipManifest, branch: Branch, product: Product, got: Fetched) -> tuple[datetime, str]:
    """The store's lock, never shortened; the rule's date instead only where it is later (and why)."""
    assert got.media is not None and got.media.retain_until is not None
    locked = got.media.retain_until
    if got.manifest is not None and got.manifest.retain_until is not None:
        locked = max(locked, got.manifest.retain_until)
    tz = ZoneInfo(branch.timezone)
    purchase = manifest.started_at.astimezone(tz).date()
    facts = RetentionFacts(purchase, maturity_for(purchase, product.maturity_date, product.term_days))
    try:
        decision = decide(rule_of(product.product_type), facts, tz)
    except RetentionError as exc:
        return locked, f"the store's Object Lock, read back at rebuild (the rule gives none: {exc})"
    if decision.retain_until > locked:
        return decision.retain_until, f"{decision.reason} (the store's lock ends earlier: {locked.isoformat()})"
    if decision.retain_until == locked:
        return locked, decision.reason
    return locked, f"the store's Object Lock, read back at rebuild (the rule alone gives {decision.reason})"


def _recording(manifest: ClipManifest, branch: Branch, product: Product, got: Fetched) -> Recording:
    assert got.media is not None and got.media.version_id and got.pair.media_key
    retain_until, reason = _retention(manifest, branch, product, got)
    hold = got.media.legal_hold or bool(got.manifest and got.manifest.legal_hold)
    return Recording(
        **manifest_columns(manifest),
        branch_id=branch.id,
        product_id=product.id,
        product_type_id=product.product_type_id,
        manifest_json=manifest.canonical_bytes().decode("utf-8"),
        object_key=got.pair.media_key,
        version_id=got.media.version_id,
        state=ARCHIVED,
        retention_rule=product.product_type.retention_rule,
        retain_until=retain_until,
        retention_reason=reason,
        legal_hold=hold,
        verified_at=utcnow(),
    )


def _catalogue_one(db: Session, got: Fetched, cat: _Catalogue, report: RebuildReport) -> None:
    pair = got.pair
    try:
        manifest, branch, product = _checked(got, cat)
    except _Refused as why:
        report.not_rebuilt.append(NotRebuilt(why.kind, pair.key, pair.clip_id, str(why)))
        return
    chain = check_chain(db, branch.id, manifest)
    if chain.problem:
        report.not_rebuilt.append(NotRebuilt("chain_fork", pair.key, manifest.clip_id, chain.problem))
        return
    rec = _recording(manifest, branch, product, got)
    rec.chain_status = chain.status
    try:
        with db.begin_nested():
            db.add(rec)
    except IntegrityError:
        # Catalogued meanwhile (a center ingesting beside the rebuild), or a fork racing this one.
        if db.execute(select(Recording.id).where(Recording.clip_id == manifest.clip_id)).first():
            report.already_present += 1
        else:
            detail = f"another clip already follows manifest {manifest.prev_manifest_sha256}"
            report.not_rebuilt.append(NotRebuilt("chain_fork", pair.key, manifest.clip_id, detail))
        return
    link_successors(db, branch.id, rec.manifest_sha256)
    if rec.prev_manifest_sha256 is None:
        cat.chain_starts.setdefault(branch.id, []).append(rec.id)
    report.rebuilt += 1
    report.legal_holds += int(rec.legal_hold)


def _settle_chain_starts(db: Session, cat: _Catalogue) -> None:
    """Of the clips that start a chain, the branch's earliest is its first and any later one a restart.

    Ingest decides by arrival order; rebuilt clips have none, so the time the branch recorded them
    decides. A chain start already catalogued before the rebuild keeps its state.
    """
    for branch_id, ids in cat.chain_starts.items():
        earliest = db.execute(
            select(Recording.id)
            .where(Recording.branch_id == branch_id)
            .order_by(Recording.started_at, Recording.id)
            .limit(1)
        ).scalar_one()
        for rec_id in ids:
            status = FIRST if rec_id == earliest else RESTARTED
            db.execute(update(Recording).where(Recording.id == rec_id).values(chain_status=status))


def _present(db: Session, batch: list[Pair]) -> set[str]:
    ids = [p.clip_id for p in batch]
    return set(db.execute(select(Recording.clip_id).where(Recording.clip_id.in_(ids))).scalars())


def run_rebuild(
    sessions: sessionmaker[Session],
    store: ObjectStore,
    *,
    prefix: str | Sequence[str] = CLIP_PREFIX,
    verify_hashes: bool = False,
    actor: str = "cli",
    page: int = PAGE,
    threads: int = STORE_THREADS,
) -> RebuildReport:
    """Catalogues every clip under `prefix` (one or several: a branch's clips are under each product
    type and, if archived before the grouping, under the branch alone) that the catalogue lacks and
    the store proves; reports the rest."""
    prefixes = [prefix] if isinstance(prefix, str) else list(prefix)
    if not prefixes or not all(p.startswith(CLIP_PREFIX) for p in prefixes):
        raise ValueError(f"the prefix must be under {CLIP_PREFIX}")
    began = time.monotonic()
    report = RebuildReport(prefix=" ".join(prefixes), verify_hashes=verify_hashes)
    with sessions() as db:
        cat = _Catalogue.load(db)
    batch: list[Pair] = []
    with ThreadPoolExecutor(max(1, threads)) as pool:

        def flush() -> None:
            with sessions() as db:
                present = _present(db, batch)
                report.already_present += len(present)
                todo = [p for p in batch if p.clip_id not in present]
                for got in pool.map(lambda p: _fetch(store, p, verify_hashes), todo):
                    _catalogue_one(db, got, cat, report)
                db.commit()
            batch.clear()

        listed_before = 0
        for one in prefixes:
            for listed, pair in listed_pairs(store, one, page):
                report.keys_listed = listed_before + listed
                report.clips_seen += 1
                batch.append(pair)
                if len(batch) >= page:
                    flush()
            listed_before = report.keys_listed
        if batch:
            flush()
    report.seconds = time.monotonic() - began
    with sessions() as db:
        _settle_chain_starts(db, cat)
        audit.append(db, actor, "catalogue.rebuilt", report.prefix[:128], report.counts())
        db.commit()
    log.info("catalogue rebuild: %s", report.lines()[-1])
    return report


def cmd_rebuild(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.cli import open_store
    from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head

    url = config.database_url()
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        with open_store(config) as store:
            report = run_rebuild(
                make_session_factory(engine), store, prefix=args.prefix or CLIP_PREFIX, verify_hashes=args.verify_hashes
            )
    finally:
        engine.dispose()
    for line in report.lines():
        print(line)
    if args.report is not None:
        args.report.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"report written to {args.report}")
    return 1 if report.not_rebuilt else 0


def register(sub: Any) -> None:
    """`rebuild` under `python -m center_platform`."""
    p = sub.add_parser("rebuild", help="catalogue again, from the store's signed manifests, the recordings it lacks")
    p.add_argument(
        "--prefix",
        action="append",
        help=f"only keys under this prefix, may be given again (default {CLIP_PREFIX}); clips are under "
        "clips/<product type>/<branch>/ and, archived before the grouping by product type, clips/<branch>/",
    )
    p.add_argument("--verify-hashes", action="store_true", help="read every clip back and check its SHA-256 too")
    p.add_argument("--report", type=Path, help="also write the report as JSON to this file")
    p.set_defaults(fn=cmd_rebuild)
