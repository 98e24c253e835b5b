"""Expiry benchmark: delete 100 000 expired clips (each with its manifest) from SeaweedFS.

    python bench/expiry.py                         100 000 clips, catalogue in SQLite   -> s_per_million: X
    python bench/expiry.py --clips 20000 --database-url postgresql+psycopg://user@host/db
    python bench/expiry.py --cluster               the same against a SeaweedFS cluster (storage/seaweed_cluster.py)

Set-up (not timed): a SeaweedFS started here with an Object Lock bucket; for every clip a small media
object and its manifest, each stored under COMPLIANCE retention that ends a few seconds after it is
written, in the archive's key layout (branch / day folders); and a catalogue row whose retain-until
has passed. The script waits until the last lock has run out.

Timed: one `run_expiry` pass as the scheduled job does it: the job lock, batches of 1000 due clips,
listing every stored version of each clip and manifest, the store's batch delete, the rows marked
deleted and one deletion certificate per clip appended to the hash-chained audit trail.
Baseline (unless --no-baseline): the same number of clips stored again without catalogue rows, then
listed by day folder and batch-deleted with the same batch size and threads and nothing else: what
the store itself costs. `ratio` is bare delete time / expiry time (1.0: expiry adds nothing).
The last line is the time scaled to one million clips; the target is 600 s (10 minutes).
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

import boto3
from botocore.config import Config
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from center_platform.audit import trail as audit
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, Product, ProductType, Recording
from center_platform.retention.expiry import delete_in_parallel, run_expiry
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from storage.seaweed_cluster import ClusterSettings, SeaweedCluster

LOCK_S = 5
PUT_THREADS = 16
CLIPS_PER_FOLDER = 25


def s3_client(endpoint: S3Endpoint):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=PUT_THREADS),
    )


def put_locked(s3, bucket: str, key: str, body: bytes) -> str:  # type: ignore[no-untyped-def]
    resp = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(seconds=LOCK_S),
    )
    return str(resp["VersionId"])


def put_clip(s3, bucket: str, folder: str, n: int) -> tuple[str, str, bytes, bytes, str]:  # type: ignore[no-untyped-def]
    """One locked clip and its manifest in the archive's key layout: (clip id, key, media, manifest, version)."""
    clip_id = secrets.token_hex(16)
    day = date(2020, 1, 1) + timedelta(days=n // CLIPS_PER_FOLDER)
    key = f"{folder}/B001/{day:%Y/%m/%d}/{clip_id}.mp4"
    media = secrets.token_bytes(512)
    manifest = f'{{"clip_id":"{clip_id}"}}'.encode()
    version = put_locked(s3, bucket, key, media)
    put_locked(s3, bucket, key + ".manifest.json", manifest)
    return clip_id, key, media, manifest, version


def seed_baseline(endpoint: S3Endpoint, clips: int) -> None:
    """The same objects without catalogue rows, for the bare store delete."""
    s3 = s3_client(endpoint)
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(lambda n: put_clip(s3, endpoint.bucket, "baseline", n), range(clips)))


def seed(endpoint: S3Endpoint, sessions, clips: int) -> None:  # type: ignore[no-untyped-def]
    with sessions() as db:
        branch = Branch(code="B001", name="bench", timezone="Asia/Shanghai", api_secret="x")
        ptype = ProductType(code="FIXED", name="fixed", retention_rule="fixed_term")
        db.add_all([branch, ptype])
        db.flush()
        product = Product(code="P-90", name="bench product", product_type_id=ptype.id, term_days=90, risk_level="R2")
        db.add(product)
        db.commit()
        ids = (branch.id, product.id, ptype.id)
    s3 = s3_client(endpoint)

    def one(n: int) -> dict[str, object]:
        clip_id, key, media, manifest, version = put_clip(s3, endpoint.bucket, "clips", n)
        day = date(2020, 1, 1) + timedelta(days=n // CLIPS_PER_FOLDER)
        started = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        return dict(
            clip_id=clip_id,
            branch_id=ids[0],
            counter_code="C01",
            staff_code="1000001",
            business_serial=f"SN-{n}",
            customer_name="张三",
            customer_id_type="passport",
            customer_id_number="E12345678",
            card_number="6222021234567890128",
            product_id=ids[1],
            product_type_id=ids[2],
            started_at=started,
            ended_at=started + timedelta(seconds=60),
            duration_ms=60000,
            clip_state="completed",
            size=len(media),
            sha256=hashlib.sha256(media).hexdigest(),
            manifest_sha256=hashlib.sha256(manifest).hexdigest(),
            manifest_json=manifest.decode(),
            object_key=key,
            version_id=version,
            state="archived",
            retention_rule="fixed_term",
            retain_until=datetime.now(UTC) + timedelta(seconds=LOCK_S),
            retention_reason="bench",
            legal_hold=False,
            verified_at=started,
            chain_status="linked",
        )

    start = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(PUT_THREADS) as pool:
        for lo in range(0, clips, 5000):
            rows = list(pool.map(one, range(lo, min(clips, lo + 5000))))
            with sessions() as db:
                db.execute(insert(Recording), rows)
                db.commit()
            done += len(rows)
            print(f"  stored {done} clips + manifests ({time.perf_counter() - start:.0f} s)", flush=True)


def store_folders(store: ObjectStore, prefix: str) -> list[str]:
    """The day folders under `prefix`, as expiry lists them."""
    days = {v.key.rsplit("/", 1)[0] + "/" for v in store.list_versions(prefix)}
    return sorted(days)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database; default SQLite in the work dir"
    )
    parser.add_argument("--workdir", type=Path, help="keep the store and database here")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the bare store delete of the same number of objects"
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="a cluster (1 master, 3 volume servers, replication 010, filer, S3) instead of `weed mini`",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-expiry-") as tmp:
        work = args.workdir or Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'center.db'}"
        upgrade_to_head(url)
        sessions = make_session_factory(make_engine(url))
        seaweed: SeaweedServer | SeaweedCluster
        if args.cluster:
            seaweed = SeaweedCluster(ClusterSettings(data_dir=work / "seaweed", bucket="evidence-bench"))
        else:
            seaweed = SeaweedServer(SeaweedSettings(data_dir=work / "seaweed", bucket="evidence-bench"))
        print(f"store: {'cluster' if args.cluster else 'weed mini'}", flush=True)
        endpoint = seaweed.start()
        try:
            store = ObjectStore(endpoint)
            store.ensure_evidence_bucket()
            print(f"storing {args.clips} clips with their manifests under a {LOCK_S} s COMPLIANCE lock", flush=True)
            seed(endpoint, sessions, args.clips)
            time.sleep(LOCK_S + 1)
            now = datetime.now(UTC)

            start = time.perf_counter()
            report = run_expiry(sessions, store, now=now)
            elapsed = time.perf_counter() - start

            with sessions() as db:
                left = db.execute(
                    select(func.count()).select_from(Recording).where(Recording.state == "archived")
                ).scalar_one()
                broken = audit.verify_chain(db)
            remaining = len(store.list_versions("clips/"))
            print(
                f"deleted {len(report.deleted)} clips in {report.batches} batches, {len(report.refused)} refused; "
                f"{left} rows still archived, {remaining} object versions left; audit chain {'intact' if not broken else 'BROKEN'}"
            )
            if len(report.deleted) != args.clips or left or remaining or broken:
                print("error: expiry did not delete every due clip", file=sys.stderr)
                return 1
            print(f"expiry: {elapsed:.1f} s for {args.clips} clips ({2 * args.clips} objects)")
            if not args.no_baseline:
                print("baseline: the same number of clips stored again, without catalogue rows", flush=True)
                seed_baseline(endpoint, args.clips)
                time.sleep(LOCK_S + 1)
                folders = store_folders(store, "baseline/")
                start = time.perf_counter()
                versions = [v for prefix in folders for v in store.list_versions(prefix)]
                bare = delete_in_parallel(store, versions)
                bare_s = time.perf_counter() - start
                if bare.failed or len(bare.deleted) != 2 * args.clips:
                    print(f"error: the bare delete removed {len(bare.deleted)} of {2 * args.clips}", file=sys.stderr)
                    return 1
                print(f"bare store delete (listing by folder, same batch size and threads): {bare_s:.1f} s")
                print(f"ratio (bare delete time / expiry time): {bare_s / elapsed:.2f}")
                print(f"expiry / bare delete: {elapsed / bare_s:.2f} (target <= 1.2)")
                print(f"bare_s_per_million: {bare_s / args.clips * 1_000_000:.0f}")
            print(f"s_per_million: {elapsed / args.clips * 1_000_000:.0f}")
        finally:
            seaweed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
