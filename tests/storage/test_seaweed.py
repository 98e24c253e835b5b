"""The embedded store: credentials always enforced, ports chosen or reported, state kept across restarts."""

from __future__ import annotations

import socket
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.object_store import ObjectStore
from storage.seaweed import SeaweedError, SeaweedServer, SeaweedSettings


def test_anonymous_and_wrong_key_requests_are_refused(seaweed: SeaweedServer) -> None:
    ep = seaweed.endpoint
    assert ep is not None
    anonymous = requests.get(f"{ep.url}/{ep.bucket}/", timeout=5)
    assert anonymous.status_code == 403
    wrong = boto3.client(
        "s3",
        endpoint_url=ep.url,
        aws_access_key_id=ep.access_key,
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    with pytest.raises(ClientError) as err:
        wrong.list_objects_v2(Bucket=ep.bucket)
    assert err.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId")


def test_bucket_has_object_lock_and_versioning(store: ObjectStore) -> None:
    store.ensure_evidence_bucket()  # raises unless both are on
    ok, reason = store.ping()
    assert ok, reason


def test_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = SeaweedServer(SeaweedSettings(data_dir=tmp_path, bucket="b-test", s3_port=port))
        with pytest.raises(SeaweedError, match=f"{port}.*already taken"):
            server.start()


@pytest.mark.slow
def test_restart_keeps_credentials_and_objects(tmp_path: Path) -> None:
    settings = SeaweedSettings(data_dir=tmp_path, bucket="restart-test")
    first = SeaweedServer(settings)
    ep1 = first.start()
    try:
        store = ObjectStore(ep1)
        store.ensure_evidence_bucket()
        stored = store.put_small("k/one.json", b'{"a":1}', "application/json")
    finally:
        first.stop()
    assert not first.is_running()
    second = SeaweedServer(settings)
    ep2 = second.start()
    try:
        assert (ep2.access_key, ep2.secret_key) == (ep1.access_key, ep1.secret_key)
        assert ObjectStore(ep2).head("k/one.json", stored.version_id).size == 7
    finally:
        second.stop()
