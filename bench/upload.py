"""Upload benchmark: one large clip through the branch uploader against a bare boto3 multipart upload.

    python bench/upload.py                 1 GB clip, 16 MB parts           -> ratio: X
    python bench/upload.py --size-mb 256 --repeat 3

Both sides send the same spool file to the same SeaweedFS in the same invocation, alternating, with
the same part size, and each is timed up to the point where every part is stored:

- uploader: `Uploader.upload` of a queued clip against a real center process: the pass over the file
  that checks it against its signed manifest and hashes each part, registration, presigned URLs in
  batches, parts sent with their SHA-256 by the uploader's worker threads.
- baseline: boto3 with storage credentials (which a branch never has): create the multipart upload,
  send the parts from ten threads (boto3's transfer default) with boto3's default checksums.

The completion is timed on its own on both sides: a bare S3 CompleteMultipartUpload for boto3; for
the uploader the center's complete, which is that plus reading the stored object back and re-hashing
it before it is locked. The ratio is baseline time / uploader time: above 1 the uploader is faster.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

# The benchmark drives the same center process and branch spool as the upload fault tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from branch_agent.center_link.client import CenterClient
from branch_agent.upload.uploader import Uploader
from storage.contract.uploads import UploadOutcome
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings
from tests.upload_rig import BRANCH_CODE, BranchRig, CenterProcess, seed_center

MB = 1024 * 1024
BOTO3_THREADS = 10


class TimedCompleteClient(CenterClient):
    """The real client; it only notes how long the center's complete (assemble + verify) took."""

    complete_s: float = 0.0

    def complete(self, clip_id: str) -> UploadOutcome:
        start = time.perf_counter()
        try:
            return super().complete(clip_id)
        finally:
            self.complete_s = time.perf_counter() - start


@dataclass(frozen=True)
class Sample:
    send_s: float
    complete_s: float


def run_uploader(branch: BranchRig, size: int) -> tuple[Sample, Path]:
    clip, _ = branch.add_clip(size)
    client = TimedCompleteClient(branch.center_url, BRANCH_CODE, branch.secret, timeout_s=600)
    start = time.perf_counter()
    result = Uploader(branch.sessions, client).upload(clip.clip_id)
    total = time.perf_counter() - start
    if result.state != "verified":
        raise SystemExit(f"uploader run ended {result.state}: {result.detail}")
    return Sample(total - client.complete_s, client.complete_s), Path(clip.media_path)


def run_boto3(endpoint: S3Endpoint, source: Path, part_size: int, key: str) -> Sample:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name=endpoint.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, max_pool_connections=BOTO3_THREADS),
    )
    size = source.stat().st_size
    count = max(1, -(-size // part_size))

    def send(number: int) -> dict[str, object]:
        with open(source, "rb") as fh:
            fh.seek((number - 1) * part_size)
            body = fh.read(part_size)
        resp = s3.upload_part(Bucket=endpoint.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": resp["ETag"]}

    start = time.perf_counter()
    upload_id = s3.create_multipart_upload(Bucket=endpoint.bucket, Key=key)["UploadId"]
    with ThreadPoolExecutor(max_workers=BOTO3_THREADS) as pool:
        parts = list(pool.map(send, range(1, count + 1)))
    sent = time.perf_counter()
    s3.complete_multipart_upload(Bucket=endpoint.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    return Sample(sent - start, time.perf_counter() - sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the clip")
    parser.add_argument("--part-mb", type=int, default=16, help="part size (the center's default is 16)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; the median is taken")
    parser.add_argument("--workdir", type=Path, help="keep the store, the center and the spool here")
    args = parser.parse_args()
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        seaweed = SeaweedServer(SeaweedSettings(data_dir=work / "seaweed", bucket="evidence-bench"))
        endpoint = seaweed.start()
        center: CenterProcess | None = None
        try:
            ObjectStore(endpoint).ensure_evidence_bucket()
            center = CenterProcess(work / "center", endpoint, part_size_mb=args.part_mb)
            branch = BranchRig(work / "branch", center.url)
            seed_center(center, branch.secret, branch.key.public_key_b64)
            center.start()
            ours: list[Sample] = []
            theirs: list[Sample] = []
            for i in range(args.repeat):
                sample, source = run_uploader(branch, size)
                ours.append(sample)
                theirs.append(run_boto3(endpoint, source, args.part_mb * MB, f"bench/baseline-{i}.bin"))
                print(
                    f"run {i + 1}: uploader {size / MB / sample.send_s:.0f} MB/s, boto3 {size / MB / theirs[-1].send_s:.0f} MB/s",
                    flush=True,
                )
        finally:
            if center is not None:
                center.kill()
            seaweed.stop()
    send_s = statistics.median(s.send_s for s in ours)
    base_s = statistics.median(s.send_s for s in theirs)
    print(f"clip: {args.size_mb} MB in {args.part_mb} MB parts, {args.repeat} run(s) each, median")
    print(
        f"uploader: {send_s:.2f} s, {size / MB / send_s:.0f} MB/s ({size * 8 / 1e6 / send_s:.0f} Mbit/s); "
        f"center complete (S3 completion + verification): {statistics.median(s.complete_s for s in ours):.2f} s"
    )
    print(
        f"boto3: {base_s:.2f} s, {size / MB / base_s:.0f} MB/s ({size * 8 / 1e6 / base_s:.0f} Mbit/s); "
        f"S3 completion: {statistics.median(s.complete_s for s in theirs):.2f} s"
    )
    print(f"ratio: {base_s / send_s:.2f}")


if __name__ == "__main__":
    main()
