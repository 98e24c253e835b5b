"""Two counters of one branch host recording at once, the whole way: both relationship managers start
while the quality check of an earlier clip is under way (it is held still while they record, and
nothing is dropped), both complete at the same moment, both clips are whole and playable, the
branch's manifest chain stays one line (no fork for the center to quarantine), and the upload
archives both."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from branch_agent.config import ENV_API_SECRET
from branch_agent.db.models import SyncedProduct, SyncedStaff
from storage.endpoint import S3Endpoint
from storage.manifest import ClipManifest
from storage.object_store import ObjectStore
from storage.signing import SigningKey
from tests.branch_agent.web.harness import GOOD_SALE, Agent, Staff, sign_in, start_agent, write_config
from tests.password_hashes import seeded_hash
from tests.upload_rig import BRANCH_CODE, PRODUCT_CODE, CenterProcess, archived, seed_center

SECONDS = 4
SECRET = "two-counters-branch-secret"
RMS = {"C01": ("1000011", "rm-one-pass-2026"), "C02": ("1000012", "rm-two-pass-2026")}
SECOND_COUNTER = """
[[counters]]
code = "C02"
name = "理财室2号柜台"
environment = { kind = "synthetic", width = 1920, height = 1080, fps = 25, label = "环境 ENV 2" }
desk = { kind = "synthetic", width = 720, height = 576, fps = 25, label = "桌面 DESK 2" }
microphone = { kind = "tone", frequency_hz = 800 }
layout = { corner = "bottom-right", inset_width = 480, inset_height = 384, overlay_position = "top-left" }
"""


@pytest.fixture()
def two_counter_branch(
    s3_endpoint: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Agent, CenterProcess]]:
    monkeypatch.setenv(ENV_API_SECRET, SECRET)
    center = CenterProcess(tmp_path / "center", s3_endpoint)
    (tmp_path / "branch").mkdir()
    config = write_config(tmp_path / "branch", quality=True)
    text = config.read_text(encoding="utf-8").replace('code = "B001"', f'code = "{BRANCH_CODE}"', 1)
    text = re.sub(r'url = "http://127\.0\.0\.1:\d+"', f'url = "{center.url}"', text, count=1)
    config.write_text(text + SECOND_COUNTER, encoding="utf-8")
    agent = start_agent(config, open_sources=True)
    seed_center(center, SECRET, SigningKey.load_or_create(agent.config.key_path).public_key_b64)
    center.start()
    with agent.svc.sessions() as db:
        for counter, (code, password) in RMS.items():
            db.add(
                SyncedStaff(
                    code=code, name=f"经理{counter}", role="relationship_manager", password_hash=seeded_hash(password)
                )
            )
        db.add(
            SyncedProduct(
                code=PRODUCT_CODE, name="九十天", type_code="FIXED", type_name="固定期限", term_days=90,
                risk_level="R2", disclosure_script="理财非存款，产品有风险，投资须谨慎。",
            )
        )  # fmt: skip
        db.commit()
    yield agent, center
    agent.svc.close()
    center.kill()


def _duration_s(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def _check_processes() -> dict[int, str]:
    """The quality checks running as children of this process, and their scheduler state (T: stopped)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"storage.quality" in cmdline:
            found[int(stat.parent.name)] = fields[0]
    return found


def test_two_counters_record_at_once_and_both_clips_reach_the_archive(
    two_counter_branch: tuple[Agent, CenterProcess], store: ObjectStore
) -> None:
    agent, center = two_counter_branch
    assert sorted(agent.svc.counters) == ["C01", "C02"]
    clients = {}
    for counter, (code, password) in RMS.items():
        client = agent.client()
        clients[counter] = (
            client,
            sign_in(client, Staff(code, password, f"经理{counter}", "relationship_manager")),
            "",
        )

    # An earlier sale on the first counter: its quality check starts as soon as it is completed.
    client, csrf, _ = clients["C01"]
    sale = {**GOOD_SALE, "product_code": PRODUCT_CODE, "business_serial": "SN-TWO-EARLIER"}
    assert client.post("/api/counters/C01/recording", json=sale, headers=csrf).status_code == 201
    time.sleep(2)
    earlier = client.post("/api/counters/C01/recording/complete", headers=csrf).get_json()["clip_id"]
    deadline = time.monotonic() + 30
    while not _check_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _check_processes(), "the check of the earlier clip did not start"

    for n, counter in enumerate(RMS):
        client, csrf, _ = clients[counter]
        sale = {**GOOD_SALE, "product_code": PRODUCT_CODE, "business_serial": f"SN-TWO-{n}"}
        r = client.post(f"/api/counters/{counter}/recording", json=sale, headers=csrf)
        assert r.status_code == 201, r.get_json()
        clients[counter] = (client, csrf, r.get_json()["clip_id"])
    time.sleep(1)
    held = _check_processes()
    assert held and set(held.values()) == {"T"}, f"the check runs while the counters record: {held}"
    time.sleep(SECONDS - 1)

    done: dict[str, dict[str, object]] = {}
    both = threading.Barrier(2)

    def complete(counter: str) -> None:
        client, csrf, _ = clients[counter]
        both.wait()
        r = client.post(f"/api/counters/{counter}/recording/complete", headers=csrf)
        assert r.status_code == 200, r.get_json()
        done[counter] = r.get_json()

    threads = [threading.Thread(target=complete, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(done) == ["C01", "C02"]

    manifests = {}
    for counter, (_, _, clip_id) in clients.items():
        assert done[counter]["clip_id"] == clip_id and done[counter]["state"] == "completed"
        assert done[counter]["dropped_frames"] == 0
        media = next(agent.config.spool_dir.rglob(f"{clip_id}.mp4"))
        manifest = ClipManifest.parse(media.with_suffix(".manifest.json").read_bytes())
        # The whole take is in the file: it plays as long as the manifest says, at least the time both recorded.
        assert abs(_duration_s(media) - manifest.duration_ms / 1000) < 0.5 and manifest.duration_ms >= SECONDS * 1000
        assert manifest.counter_code == counter and manifest.gaps == []
        manifests[counter] = manifest
    # Completed at the same moment, still one line: one clip follows the other, never the same predecessor.
    a, b = manifests["C01"], manifests["C02"]
    assert a.started_at < b.ended_at and b.started_at < a.ended_at  # they really recorded at the same time
    assert a.manifest_sha256() in (b.prev_manifest_sha256,) or b.manifest_sha256() in (a.prev_manifest_sha256,)

    # Nobody records now: the check goes on to its verdict.
    deadline = time.monotonic() + 180
    while agent.svc.quality is not None and agent.svc.quality.verdict(earlier).state in ("queued", "checking"):
        assert time.monotonic() < deadline, "no verdict on the earlier clip"
        time.sleep(0.5)
    assert agent.svc.quality is not None and agent.svc.quality.verdict(earlier).state == "done"

    results = agent.svc.uploader.run_once()
    uploaded = sorted((r.clip_id, r.state) for r in results if r.clip_id != earlier)
    assert uploaded == sorted((m.clip_id, "verified") for m in manifests.values())
    for m in manifests.values():
        held = archived(center, store, m.clip_id)
        assert held.catalogue_rows == 1 and held.recording_sha256 == m.media.sha256
