"""Catalogue rebuild benchmark: recordings catalogued again from the signed manifests in SeaweedFS.

    python bench/rebuild.py                    20 000 clips, catalogue in SQLite -> s_per_100k: X (extrapolated)
    python bench/rebuild.py --clips 100000 --database-url postgresql+psycopg://user@host/db

Set-up (not timed): a SeaweedFS started here with an Object Lock bucket; a catalogue with one branch
(its Ed25519 key), a product type and a product, and no recordings; for every clip a small media object
and its manifest, signed by the branch and chained to the previous one, both under COMPLIANCE
retention, in the archive's key layout (branch / day folders), as bench/expiry.py builds its objects.

Timed: one `run_rebuild` pass over `clips/` as `python -m center_platform rebuild` runs it: the listing a
page at a time, per clip the heads of both objects and the manifest read back, its signature verified,
the size checked, the retention and legal hold read from the lock, the row written, the chain linked,
one audit line. Baseline (unless --no-baseline): the same listing and the same manifests read with
nothing else (one GET each, on as many threads). The figure per 100 000 clips is extrapolated
linearly from the clips run, and says so.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.expiry import PUT_THREADS, s3_client
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, Product, ProductType, Recording
from center_platform.operations.rebuild import MANIFEST_SUFFIX, STORE_THREADS, run_rebuild
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from storage.signing import SigningKey

CLIPS_PER_FOLDER = 25
LOCK = timedelta(days=2)


def manifests(key: SigningKey, clips: int) -> list[tuple[str, bytes, bytes]]:
    """(key, media, signed manifest) for each clip, the branch's chain in recording order."""
    out: list[tuple[str, bytes, bytes]] = []
    prev: str | None = None
    for n in range(clips):
        day = date(2025, 1, 1) + timedelta(days=n // CLIPS_PER_FOLDER)
        started = datetime(day.year, day.month, day.day, 2, tzinfo=UTC) + timedelta(minutes=n % CLIPS_PER_FOLDER)
        media = secrets.token_bytes(512)
        m = ClipManifest.model_validate(
            {
                "clip_id": secrets.token_hex(16),
                "state": "completed",
                "branch_code": "B001",
                "counter_code": "C01",
                "staff_code": "1000001",
                "business_serial": f"SN-{n}",
                "customer": {
                    "name": "张三",
                    "id_type": "passport",
                    "id_number": "E12345678",
                    "card_number": "6222021234567890128",
                },
                "product": {"code": "P-90", "name": "bench product", "type_code": "FIXED"},
                "started_at": started,
                "ended_at": started + timedelta(seconds=60),
                "duration_ms": 60000,
                "prev_manifest_sha256": prev,
                "media": {
                    "file_name": "c.mp4",
                    "size": len(media),
                    "sha256": hashlib.sha256(media).hexdigest(),
                    "video_codec": "h264",
                    "width": 1920,
                    "height": 1080,
                    "fps": 25,
                    "audio_codec": "aac",
                    "sample_rate": 48000,
                },
            }
        ).signed(key)
        prev = m.manifest_sha256()
        out.append((f"clips/B001/{started:%Y/%m/%d}/{m.clip_id}.mp4", media, m.canonical_bytes()))
    return out


def seed(store: ObjectStore, sessions, clips: int) -> None:  # type: ignore[no-untyped-def]
    key = SigningKey.generate()
    with sessions() as db:
        db.add(
            Branch(
                code="B001",
                name="bench",
                timezone="Asia/Shanghai",
                api_secret="x",
                signing_public_key=key.public_key_b64,
            )
        )
        ptype = ProductType(code="FIXED", name="fixed", retention_rule="fixed_term")
        db.add(ptype)
        db.flush()
        db.add(Product(code="P-90", name="bench product", product_type_id=ptype.id, term_days=90, risk_level="R2"))
        db.commit()
    s3 = s3_client(store.endpoint)
    until = datetime.now(UTC) + LOCK

    def put(item: tuple[str, bytes, bytes]) -> None:
        k, media, manifest = item
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}
        s3.put_object(Bucket=store.bucket, Key=k, Body=media, **lock)
        s3.put_object(Bucket=store.bucket, Key=k + MANIFEST_SUFFIX, Body=manifest, **lock)

    start = time.perf_counter()
    items = manifests(key, clips)
    print(f"  signed {clips} manifests ({time.perf_counter() - start:.0f} s)", flush=True)
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        for lo in range(0, clips, 5000):
            list(pool.map(put, items[lo : lo + 5000]))
            print(
                f"  stored {min(clips, lo + 5000)} clips + manifests ({time.perf_counter() - start:.0f} s)", flush=True
            )


def bare_read(store: ObjectStore) -> int:
    """The listing and every manifest read, with nothing else: what the store itself costs."""
    s3 = s3_client(store.endpoint)
    read = 0
    with ThreadPoolExecutor(STORE_THREADS) as pool:
        for keys in store.key_pages("clips/", 500):
            wanted = [k for k in keys if k.endswith(MANIFEST_SUFFIX)]
            bodies = pool.map(lambda k: s3.get_object(Bucket=store.bucket, Key=k)["Body"].read(), wanted)
            read += sum(1 for b in bodies if b)
    return read


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database; default SQLite in the work dir"
    )
    parser.add_argument("--workdir", type=Path, help="keep the store and database here")
    parser.add_argument("--verify-hashes", action="store_true", help="time the rebuild with every media re-hashed")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare listing and manifest reads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        work = args.workdir or Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'center.db'}"
        upgrade_to_head(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        seaweed = SeaweedServer(SeaweedSettings(data_dir=work / "seaweed", bucket="evidence-bench"))
        endpoint = seaweed.start()
        try:
            store = ObjectStore(endpoint)
            store.ensure_evidence_bucket()
            print(f"storing {args.clips} signed clips with their manifests under COMPLIANCE locks", flush=True)
            seed(store, sessions, args.clips)

            start = time.perf_counter()
            report = run_rebuild(sessions, store, prefix="clips/", verify_hashes=args.verify_hashes, actor="bench")
            elapsed = time.perf_counter() - start
            with sessions() as db:
                rows = db.execute(select(func.count()).select_from(Recording)).scalar_one()
                awaiting = db.execute(
                    select(func.count()).select_from(Recording).where(Recording.chain_status != "linked")
                ).scalar_one()
            print(report.lines()[-1])
            if rows != args.clips or report.not_rebuilt or awaiting != 1:
                print(
                    f"error: {rows} rows, {len(report.not_rebuilt)} not rebuilt, {awaiting} not linked", file=sys.stderr
                )
                return 1
            per_100k = elapsed / args.clips * 100_000
            print(f"rebuild: {elapsed:.1f} s for {args.clips} clips ({args.clips / elapsed:.0f} clips/s)")
            scaled = "" if args.clips == 100_000 else f" (extrapolated linearly from {args.clips} clips)"
            if not args.no_baseline:
                start = time.perf_counter()
                read = bare_read(store)
                bare_s = time.perf_counter() - start
                if read != args.clips:
                    print(f"error: the bare read found {read} manifests of {args.clips}", file=sys.stderr)
                    return 1
                print(f"bare listing + manifest reads ({STORE_THREADS} threads): {bare_s:.1f} s")
                print(f"bare_s_per_100k: {bare_s / args.clips * 100_000:.0f}{scaled}")
                print(f"rebuild / bare: {elapsed / bare_s:.2f}")
            print(f"s_per_100k: {per_100k:.0f}{scaled}")
        finally:
            seaweed.stop()
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
