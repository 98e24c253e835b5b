"""Replay benchmark: open and seek in 2-hour clips in headless Chromium through the center.

    python bench/replay.py                              two 2-hour clips, 10 seeks each -> seek_p95_ms: X
    python bench/replay.py --hours 0.5 --workdir /var/tmp/bench-replay    keeps the clips between runs
    python bench/replay.py --skip-as-is                 without the clips served as they are (slow)

Clips (made once per workdir, not timed): 20 s of 1080p25 test pattern with grain and a tone, H.264
4 Mbit/s and AAC, fragmented as the recorder does (1 s fragments, empty moov, moof-based), repeated
with `ffmpeg -stream_loop -c copy` to the length asked for; the interrupted clip is a copy of it cut
off in the middle of a fragment three fragments before the end (no mfra, a partial last fragment),
as a power cut leaves one. Both are uploaded by the branch uploader to the center (presigned parts to
SeaweedFS, re-hashed and indexed at ingest), as in production.

Timed, in headless Chromium (selenium, Debian's chromedriver), for each clip:
- center: the center app behind waitress (8 threads) on SQLite, signed in as a compliance officer on
  the player page (every replay audited); the player's <video> is given the clip's media URL and
  `first frame` is the time to `loadeddata`; then `--seeks` seeks to random positions (fixed seed)
  are each timed from setting currentTime to `seeked`.
- bare: the same seeks on the same bytes the center serves (the replay view), from disk by Python's
  ThreadingHTTPServer with Range and nothing else: the cost of the center and the store.
- as-is (unless --skip-as-is): the original file from disk by the bare server, as replay served it
  before: the player reads every fragment's header before the first frame (given up after --give-up-s).

Range requests are counted at each server: per seek, those that arrived between setting currentTime
and `seeked` (server and browser share the host's clock). Targets: seek p95 <= 300 ms and <= 5 range
requests per seek; the last line is the worse clip's seek p95 through the center.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from waitress import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from branch_agent.db.models import COMPLETED, INTERRUPTED, PENDING, Clip
from branch_agent.spool.clip_manifest import write_durably
from branch_agent.upload.uploader import Uploader
from center_platform.app import create_app
from center_platform.config import ENV_DATABASE_URL, CenterConfig
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, Product, ProductType, User
from storage.contract.passwords import hash_password
from storage.manifest import ClipManifest
from storage.mp4_index import scan_file
from storage.object_store import ObjectStore
from storage.replay_view import replay_view
from storage.seaweed import SeaweedServer, SeaweedSettings
from storage.virtual_media import VirtualMedia, answer_range
from tests.headless_chromium import headless_chromium
from tests.replay_clips import FFMPEG, MOVFLAGS
from tests.upload_rig import BRANCH_CODE, PRODUCT_CODE, BranchRig

PASSWORD = "bench-replay-2026"
BASE_SECONDS = 20
MB = 1024 * 1024


# -- clips ----------------------------------------------------------------------------------------------


def _ffmpeg(*args: str) -> None:
    assert FFMPEG, "ffmpeg is needed (scripts/sysdeps.sh installs it)"
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", *args], check=True)


def make_clips(work: Path, hours: float) -> tuple[Path, Path]:
    seconds = round(hours * 3600)
    normal, interrupted = work / f"normal-{seconds}s.mp4", work / f"interrupted-{seconds}s.mp4"
    base = work / f"base-{BASE_SECONDS}s.mp4"
    if not base.exists():
        print(f"  encoding {BASE_SECONDS} s of 1080p25 at 4 Mbit/s ...", flush=True)
        _ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25,noise=alls=30:allf=t",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(BASE_SECONDS),
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M",
            "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-ac", "1", "-b:a", "128k", "-movflags", MOVFLAGS, str(base) + ".tmp.mp4",
        )  # fmt: skip
        os.replace(str(base) + ".tmp.mp4", base)
    if not normal.exists():
        print(f"  repeating it to {seconds} s ...", flush=True)
        loops = math.ceil(seconds / BASE_SECONDS)
        tmp = str(normal) + ".tmp.mp4"
        _ffmpeg(
            "-stream_loop",
            str(loops - 1),
            "-i",
            str(base),
            "-t",
            str(seconds),
            "-c",
            "copy",
            "-movflags",
            MOVFLAGS,
            tmp,
        )
        os.replace(tmp, normal)
    if not interrupted.exists():
        index = scan_file(normal)
        start, end = index.moof_offsets[-3], index.moof_offsets[-2]
        cut = start + (end - start) * 2 // 3
        tmp_path = interrupted.with_suffix(".tmp")
        with normal.open("rb") as src, tmp_path.open("wb") as dst:
            left = cut
            while left:
                block = src.read(min(left, 16 * MB))
                dst.write(block)
                left -= len(block)
        os.replace(tmp_path, interrupted)
    return normal, interrupted


# -- servers --------------------------------------------------------------------------------------------


@dataclass
class Requests:
    """Arrival times (time.time()) of media range requests at one server."""

    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self) -> None:
        with self.lock:
            self.times.append(time.time())

    def between(self, t0: float, t1: float) -> int:
        with self.lock:
            return sum(1 for t in self.times if t0 <= t <= t1)


class CountingApp:
    def __init__(self, app: Callable[..., Iterable[bytes]], requests: Requests) -> None:
        self.app, self.requests = app, requests

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").endswith("/media"):
            self.requests.note()
        return self.app(environ, start_response)


def bare_server(files: dict[str, tuple[Path, VirtualMedia]], requests: Requests) -> ThreadingHTTPServer:
    """Range from disk and nothing else: /<name> serves `files[name]` (a view of the file at its path)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            name, _, query = self.path.partition("?")
            name = name.strip("/")
            if name == "page":
                page = f"<!doctype html><video id=player preload=metadata muted src='/{query}'></video>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
            path, view = files[name]
            requests.note()
            answer = answer_range(self.headers.get("Range", ""), view.size)
            self.send_response(answer.status)
            self.send_header("Content-Type", "video/mp4")
            for k, v in answer.headers().items():
                self.send_header(k, v)
            self.end_headers()
            if not answer.length:
                return
            span = view.original_span(answer.start, answer.end)
            try:
                with path.open("rb") as f:
                    for block in view.read(answer.start, answer.end, _file_blocks(f, span)):
                        self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a player dropping a connection it no longer needs

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _file_blocks(f: Any, span: tuple[int, int] | None) -> Iterator[bytes]:
    if span is None:
        return
    f.seek(span[0])
    left = span[1] - span[0] + 1
    while left > 0:
        block = f.read(min(left, 256 * 1024))
        if not block:
            return
        left -= len(block)
        yield block


# -- the center -----------------------------------------------------------------------------------------


def seed(db_url: str, branch: BranchRig) -> None:
    upgrade_to_head(db_url)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as db:
        db.add(
            Branch(
                code=BRANCH_CODE,
                name="测试支行",
                api_secret=branch.secret,
                signing_public_key=branch.key.public_key_b64,
            )
        )
        ptype = ProductType(code="FIXED", name="固定期限", retention_rule="fixed_term")
        db.add(ptype)
        db.flush()
        db.add(Product(code=PRODUCT_CODE, name="九十天", product_type_id=ptype.id, term_days=90, risk_level="R2"))
        db.add(
            User(
                username="bench", display_name="bench", role="compliance_officer", password_hash=hash_password(PASSWORD)
            )
        )
        db.commit()
    engine.dispose()


def upload(branch: BranchRig, path: Path, state: str) -> str:
    """The clip queued in the branch spool with its signed manifest, and sent by the branch uploader."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(16 * MB):
            digest.update(block)
    clip_id, size = secrets.token_hex(16), path.stat().st_size
    start = datetime.now(UTC) - timedelta(hours=3)
    index = scan_file(path)
    video = index.tracks[0]
    duration_ms = index.end_times[video.track_id] * 1000 // video.timescale
    manifest = ClipManifest.model_validate(
        {
            "clip_id": clip_id, "state": state, "branch_code": BRANCH_CODE, "counter_code": "C01",
            "staff_code": "1000001", "business_serial": "SN-" + secrets.token_hex(4),
            "customer": {"name": "李四", "id_type": "passport", "id_number": "E12345678", "card_number": "6222021234567890128"},
            "product": {"code": PRODUCT_CODE, "name": "九十天", "type_code": "FIXED"},
            "started_at": start, "ended_at": start + timedelta(milliseconds=duration_ms), "duration_ms": duration_ms,
            "media": {
                "file_name": path.name, "size": size, "sha256": digest.hexdigest(), "video_codec": "h264",
                "width": 1920, "height": 1080, "fps": 25, "audio_codec": "aac", "sample_rate": 48000,
            },
        }
    ).signed(branch.key)  # fmt: skip
    manifest_path = branch.data_dir / f"{clip_id}.manifest.json"
    write_durably(manifest_path, manifest.canonical_bytes())
    with branch.sessions() as db:
        db.add(
            Clip(
                clip_id=clip_id, counter_code="C01", staff_code="1000001", business_serial=manifest.business_serial,
                sale_json="{}", state=COMPLETED if state == "completed" else INTERRUPTED, media_path=str(path),
                manifest_path=str(manifest_path), started_at=start, ended_at=manifest.ended_at,
                duration_ms=manifest.duration_ms, size=size, sha256=manifest.media.sha256,
                manifest_sha256=manifest.manifest_sha256(), upload_state=PENDING,
            )
        )  # fmt: skip
        db.commit()
    t = time.perf_counter()
    result = Uploader(branch.sessions, branch.client(timeout_s=1800)).upload(clip_id)
    if result.state != "verified":
        raise SystemExit(f"upload of {path.name} ended {result.state}: {result.detail}")
    print(
        f"  {path.name}: {size / MB:,.0f} MB uploaded, verified and indexed in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    return clip_id


# -- the browser ----------------------------------------------------------------------------------------

# Installed before any page script: the player's first frame and errors, timed from navigation start.
WATCH_JS = """
window.__firstFrame = null; window.__mediaError = null;
document.addEventListener('loadeddata', e => { if (window.__firstFrame === null) window.__firstFrame = performance.now(); }, true);
document.addEventListener('error', e => { if (e.target.tagName === 'VIDEO') window.__mediaError = String(e.target.error && e.target.error.message); }, true);
"""
SEEK_JS = """
const [to, done] = [arguments[0], arguments[arguments.length - 1]];
const v = document.getElementById('player');
const t0 = Date.now();
v.addEventListener('seeked', () => done([t0, Date.now(), v.currentTime]), {once: true});
v.currentTime = to;
"""


@dataclass
class Result:
    first_frame_ms: float | None
    open_requests: int
    seek_ms: list[float] = field(default_factory=list)
    seek_requests: list[int] = field(default_factory=list)
    note: str = ""


def measure(driver: Any, page_url: str, requests: Requests, seeks: int, give_up_s: float) -> Result:
    """Open the player page; time its video's first frame from navigation start; then seek."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_JS})
    begun = time.time()
    driver.get(page_url)
    deadline = time.monotonic() + give_up_s
    state: list[Any] = [None, None]
    while time.monotonic() < deadline:
        try:
            state = driver.execute_script("return [window.__firstFrame, window.__mediaError, performance.timeOrigin];")
        except Exception as exc:  # a crashed tab
            return Result(None, requests.between(begun, time.time()), note=f"tab lost ({type(exc).__name__})")
        if state[0] is not None or state[1] is not None:
            break
        time.sleep(0.02)
    if state[1] is not None:
        return Result(None, requests.between(begun, time.time()), note=f"error: {state[1]}")
    if state[0] is None:
        return Result(None, requests.between(begun, time.time()), note=f"no first frame in {give_up_s:.0f} s")
    first_frame_at = (state[2] + state[0]) / 1000
    result = Result(state[0], requests.between(begun, first_frame_at + 0.001))
    duration = driver.execute_script("return document.getElementById('player').duration;")
    driver.set_script_timeout(give_up_s)
    rng = random.Random(20261204)
    for _ in range(seeks):
        time.sleep(0.3)  # the player settles, as someone looking at the picture would
        target = rng.uniform(0, duration - 5)
        s0, s1, at = driver.execute_async_script(SEEK_JS, target)
        if abs(at - target) > 0.5:
            result.note = f"a seek to {target:.1f} s ended at {at:.1f} s"
        result.seek_ms.append(s1 - s0)
        result.seek_requests.append(requests.between(s0 / 1000 - 0.001, s1 / 1000 + 0.001))
    return result


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) >= 2 else values[0]


def report(label: str, r: Result) -> None:
    if r.first_frame_ms is None:
        print(f"  {label:34s} {r.note}; {r.open_requests} range requests by then", flush=True)
        return
    line = f"  {label:34s} first frame {r.first_frame_ms:6.0f} ms ({r.open_requests} requests)"
    if r.seek_ms:
        line += (
            f"  seek p50 {statistics.median(r.seek_ms):5.0f} ms  p95 {p95(r.seek_ms):5.0f} ms"
            f"  requests/seek mean {statistics.mean(r.seek_requests):.1f} max {max(r.seek_requests)}"
        )
    print(line + (f"  ({r.note})" if r.note else ""), flush=True)


def sign_in(driver: Any, center_url: str) -> None:
    """Signed in as a compliance officer, through the center's own sign-in API, in this browser."""
    driver.get(center_url + "/login")
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({username: 'bench', password: arguments[0]})}).then(r => done(r.status));",
        PASSWORD,
    )
    if status != 200:
        raise SystemExit(f"sign-in failed: HTTP {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0, help="length of the clips")
    parser.add_argument("--seeks", type=int, default=10, help="seeks per clip and server")
    parser.add_argument("--give-up-s", type=float, default=90.0, help="how long a first frame is waited for")
    parser.add_argument("--skip-as-is", action="store_true", help="do not replay the original files as they are")
    parser.add_argument("--workdir", type=Path, help="keep the clips here (made once)")
    parser.add_argument("--max-response-mb", type=int, default=4, help="the center's replay.max_response_mb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print("clips:", flush=True)
        clips = dict(zip(("normal", "interrupted"), make_clips(work, args.hours)))
        run = Path(tempfile.mkdtemp(prefix="run-", dir=work))
        seaweed = SeaweedServer(SeaweedSettings(data_dir=run / "seaweed", bucket="evidence-bench"))
        endpoint = seaweed.start()
        try:
            return _run(args, clips, run, endpoint)
        finally:
            seaweed.stop()
            shutil.rmtree(run, ignore_errors=True)


def _run(args: argparse.Namespace, clips: dict[str, Path], run: Path, endpoint: Any) -> int:
    store = ObjectStore(endpoint)
    store.ensure_evidence_bucket()
    db_url = f"sqlite:///{run / 'center.db'}"
    os.environ[ENV_DATABASE_URL] = db_url
    center_requests, bare_requests = Requests(), Requests()
    config = CenterConfig.model_validate(
        {
            "server": {"data_dir": str(run / "center")},
            "storage": {"part_size_mb": 16, "max_clip_age_days": 3650},
            "replay": {"max_response_mb": args.max_response_mb},
        }
    )
    branch = BranchRig(run / "branch", "")
    seed(db_url, branch)
    app = create_app(config, store)
    server = create_server(CountingApp(app, center_requests), host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    center_url = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    branch.center_url = center_url
    print("upload:", flush=True)
    ids = {
        name: upload(branch, path, "completed" if name == "normal" else "interrupted") for name, path in clips.items()
    }
    files: dict[str, tuple[Path, VirtualMedia]] = {}
    for name, path in clips.items():
        files[f"{name}-view.mp4"] = (path, replay_view(scan_file(path)))
        files[f"{name}-as-is.mp4"] = (path, VirtualMedia.as_is(path.stat().st_size))
    bare = bare_server(files, bare_requests)
    bare_url = f"http://127.0.0.1:{bare.server_address[1]}"
    print(f"{args.hours:g} h clips, {args.seeks} seeks each at random positions (seed fixed):", flush=True)
    results: dict[tuple[str, str], Result] = {}
    for name in clips:
        with headless_chromium(1366, 900) as driver:
            sign_in(driver, center_url)
            page = f"{center_url}/recordings/{ids[name]}"
            results[name, "center"] = measure(driver, page, center_requests, args.seeks, args.give_up_s)
            report(f"{name}: center player", results[name, "center"])
        with headless_chromium(1366, 900) as driver:
            page = f"{bare_url}/page?{name}-view.mp4"
            results[name, "bare"] = measure(driver, page, bare_requests, args.seeks, args.give_up_s)
            report(f"{name}: bare server, same bytes", results[name, "bare"])
        if not args.skip_as_is:
            with headless_chromium(1366, 900) as driver:
                page = f"{bare_url}/page?{name}-as-is.mp4"
                results[name, "as-is"] = measure(driver, page, bare_requests, args.seeks, args.give_up_s)
                report(f"{name}: bare server, file as it is", results[name, "as-is"])
    worst = 0.0
    for name in clips:
        ours, theirs = results[name, "center"], results[name, "bare"]
        if not ours.seek_ms or not theirs.seek_ms:
            print(f"{name}: no seeks measured")
            return 1
        worst = max(worst, p95(ours.seek_ms))
        print(
            f"{name}: center / bare server seek p95 ratio {p95(ours.seek_ms) / p95(theirs.seek_ms):.2f}, "
            f"first frame ratio {(ours.first_frame_ms or 0) / max(1.0, theirs.first_frame_ms or 1):.2f}"
        )
        before = results.get((name, "as-is"))
        if before is not None and ours.first_frame_ms:
            waited = f"{before.first_frame_ms / 1000:.1f} s" if before.first_frame_ms else f"> {args.give_up_s:.0f} s"
            print(
                f"{name}: as it is, the player's first frame took {waited} and {before.open_requests} requests;"
                f" as the replay view through the center {ours.first_frame_ms:.0f} ms and {ours.open_requests}"
            )
    server.close()
    bare.shutdown()
    print(f"seek_p95_ms: {worst:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
