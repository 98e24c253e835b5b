"""The center's replies to the branch are signed, and the branch believes nothing else: a forged
"verified" marks nothing and purges nothing; the real center's signed verification is kept with the
clip and is what lets the spool purge free the disk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import update
from waitress import create_server

from branch_agent.center_link.client import CenterReplyNotSigned, CenterUnavailable
from branch_agent.db.models import PENDING, PURGED, VERIFIED, Clip
from branch_agent.spool.purge_policy import purge_verified_clips
from branch_agent.upload.uploader import Uploader
from center_platform.app import create_app
from center_platform.config import CenterConfig
from center_platform.db.models import Branch, Product, ProductType
from storage.contract import reply_signing
from storage.object_store import ObjectStore
from tests.upload_rig import BRANCH_CODE, PRODUCT_CODE, BranchRig

LONG_AFTER = datetime.now(UTC) + timedelta(days=400)  # every clip is past its keep period by then


class ForgingCenter(ThreadingHTTPServer):
    """What an attacker on the path (or at a plain-http address) answers: "verified", for everything."""

    signature_secret: str | None = None  # None: no signature at all; else signed with this (wrong) secret
    requests_seen: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: ForgingCenter

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests_seen.append(self.path)
        if self.path.endswith("/complete"):
            clip_id = self.path.split("/")[-2]
            reply = {"clip_id": clip_id, "state": "verified", "retain_until": "2099-12-31T16:00:00+00:00"}
        else:
            manifest = json.loads(body)["manifest"]
            size = manifest["media"]["size"]
            reply = {
                "clip_id": manifest["clip_id"],
                "state": "verified",
                "size": size,
                "part_size": 5 << 20,
                "part_count": 1,
                "stored_parts": [1],
            }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.server.signature_secret is not None:  # the right form, the wrong secret
            nonce = self.headers.get("X-DR-Nonce", "")
            ts = int(datetime.now(UTC).timestamp())
            for name, value in reply_signing.sign_reply(
                self.server.signature_secret, "POST", self.path, 200, data, nonce, ts
            ).items():
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=["unsigned", "wrong-secret"])
def forging_center(request: pytest.FixtureRequest) -> Iterator[ForgingCenter]:
    server = ForgingCenter(("127.0.0.1", 0), _Handler)
    server.requests_seen = []
    server.signature_secret = None if request.param == "unsigned" else "a-secret-the-attacker-guessed"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_forged_verified_marks_nothing_and_purges_nothing(forging_center: ForgingCenter, tmp_path: Path) -> None:
    host, port = forging_center.server_address[:2]
    branch = BranchRig(tmp_path / "branch", f"http://{host}:{port}")
    clip, media = branch.add_clip(4096, started_at=datetime.now(UTC) - timedelta(days=90))

    results = Uploader(branch.sessions, branch.client()).run_once()

    assert forging_center.requests_seen, "the branch did ask the (fake) center"
    assert [r.state for r in results] == []  # treated as the center being unreachable: the run pauses
    kept = branch.clip(clip.clip_id)
    assert kept.upload_state == PENDING and kept.verified_at is None
    assert "签名" in kept.upload_error and "signed" in kept.upload_error
    assert purge_verified_clips(branch.sessions, keep_verified_days=30, now=LONG_AFTER) == []
    assert Path(clip.media_path).read_bytes() == media

    with pytest.raises(CenterUnavailable, match="not signed by the center"):
        branch.client().complete(clip.clip_id)


def test_a_clip_marked_verified_without_a_signed_receipt_is_never_purged(tmp_path: Path) -> None:
    branch = BranchRig(tmp_path / "branch", "http://127.0.0.1:9")
    clip, media = branch.add_clip(1000, started_at=datetime.now(UTC) - timedelta(days=90))
    with branch.sessions() as db:  # as a forged reply, an old agent or a hand edit would have left it
        db.execute(update(Clip).values(upload_state=VERIFIED, verified_at=datetime.now(UTC)))
        db.commit()
    assert purge_verified_clips(branch.sessions, keep_verified_days=30, now=LONG_AFTER) == []
    assert Path(clip.media_path).read_bytes() == media


def test_reply_signature_is_bound_to_the_request() -> None:
    body = b'{"state":"verified"}'
    headers = reply_signing.sign_reply("s3cret", "POST", "/p", 200, body, "nonce-1", timestamp=1700000000)
    receipt = reply_signing.verify_reply("s3cret", "POST", "/p", 200, headers, body, "nonce-1")
    assert receipt.signature == headers[reply_signing.HEADER_REPLY_SIGNATURE]
    for args in (
        ("other", "POST", "/p", 200, headers, body, "nonce-1"),  # another secret
        ("s3cret", "POST", "/q", 200, headers, body, "nonce-1"),  # another route
        ("s3cret", "POST", "/p", 201, headers, body, "nonce-1"),  # another status
        ("s3cret", "POST", "/p", 200, headers, b"{}", "nonce-1"),  # another body
        ("s3cret", "POST", "/p", 200, headers, body, "nonce-2"),  # a reply to another request (replay)
        ("s3cret", "POST", "/p", 200, {}, body, "nonce-1"),  # no signature
    ):
        with pytest.raises(reply_signing.ReplyNotSigned):
            reply_signing.verify_reply(*args)  # type: ignore[arg-type]


# -- against the real center -------------------------------------------------------------------------


@pytest.fixture()
def enrolled(tmp_path: Path, store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[BranchRig]:
    """The real center app behind waitress on 127.0.0.1, and a branch spool enrolled with it."""
    monkeypatch.setenv("CENTER_DATABASE_URL", f"sqlite:///{tmp_path / 'center.db'}")
    config = {"server": {"data_dir": str(tmp_path / "center")}, "storage": {"part_size_mb": 5}}
    app = create_app(CenterConfig.model_validate(config), store)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    branch = BranchRig(tmp_path / "branch", f"http://127.0.0.1:{server.effective_port}")
    with app.extensions["center"].sessions() as db:
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
        db.commit()
    yield branch
    server.close()
    for channel in list(server._map.values()):  # type: ignore[attr-defined]
        channel.close()
    thread.join(timeout=10)
    app.extensions["center"].engine.dispose()


def test_the_real_centers_signed_verification_is_kept_and_allows_the_purge(enrolled: BranchRig) -> None:
    branch = enrolled
    clip, _ = branch.add_clip(2048)
    [result] = Uploader(branch.sessions, branch.client()).run_once()
    assert result.state == "verified", result
    verified = branch.clip(clip.clip_id)
    assert verified.upload_state == VERIFIED and verified.verification_receipt
    receipt = json.loads(verified.verification_receipt)
    assert receipt["path"].endswith(f"/uploads/{clip.clip_id}/complete") and receipt["status"] == 200
    assert json.loads(receipt["body"])["state"] == "verified" and len(receipt["signature"]) == 64
    assert reply_signing.ReplyReceipt.from_json(verified.verification_receipt).matches(branch.secret)

    # A clip verified before receipts were kept stays until the next run confirms it again, signed.
    legacy, _ = branch.add_clip(1024)
    assert [r.state for r in Uploader(branch.sessions, branch.client()).run_once()] == ["verified"]
    with branch.sessions() as db:
        db.execute(update(Clip).where(Clip.clip_id == legacy.clip_id).values(verification_receipt=None))
        db.commit()
    purged = purge_verified_clips(branch.sessions, keep_verified_days=30, now=LONG_AFTER)
    assert [p.clip_id for p in purged] == [clip.clip_id]
    assert branch.clip(clip.clip_id).upload_state == PURGED and not Path(clip.media_path).exists()
    assert branch.clip(legacy.clip_id).upload_state == VERIFIED and Path(legacy.media_path).exists()

    Uploader(branch.sessions, branch.client()).run_once()
    assert branch.clip(legacy.clip_id).verification_receipt
    purged = purge_verified_clips(branch.sessions, keep_verified_days=30, now=LONG_AFTER)
    assert [p.clip_id for p in purged] == [legacy.clip_id]


def test_a_branch_clock_hours_off_still_learns_the_time_from_a_signed_refusal(enrolled: BranchRig) -> None:
    """The center signs its "timestamp" refusal too, so a branch hours off still learns the time."""
    branch = enrolled
    client = branch.client(clock=lambda: datetime.now(UTC).timestamp() - 5 * 3600)
    branch.add_clip(1024)
    [result] = Uploader(branch.sessions, client).run_once()
    assert result.state == "verified" and abs(client.clock_offset_s - 5 * 3600) < 120


def test_an_unsigned_answer_is_refused_like_an_unreachable_center(
    forging_center: ForgingCenter, tmp_path: Path
) -> None:
    host, port = forging_center.server_address[:2]
    branch = BranchRig(tmp_path / "branch", f"http://{host}:{port}")
    clip, _ = branch.add_clip(100)
    assert clip.manifest_path is not None
    manifest = json.loads(Path(clip.manifest_path).read_text(encoding="utf-8"))
    with pytest.raises(CenterReplyNotSigned, match="签名") as caught:
        branch.client().register_upload(manifest)
    assert isinstance(caught.value, CenterUnavailable)
