"""Per-clip completion locks serialise one clip's completions and leave nothing behind."""

from __future__ import annotations

import threading

import pytest

from center_platform.ingest.keyed_locks import KeyedLocks
from tests.center_platform.archive_rig import ArchiveRig, archive_rig  # noqa: F401


def test_one_holder_per_key_and_no_entry_left_behind() -> None:
    locks = KeyedLocks()
    inside: list[str] = []
    overlaps: list[str] = []
    entered = threading.Barrier(8)

    def work(key: str) -> None:
        entered.wait()
        for _ in range(200):
            with locks.hold(key):
                if key in inside:
                    overlaps.append(key)
                inside.append(key)
                inside.remove(key)

    threads = [threading.Thread(target=work, args=(k,)) for k in ["a"] * 4 + ["b"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and len(locks) == 0
    with pytest.raises(RuntimeError), locks.hold("c"):
        raise RuntimeError("a failed completion")
    assert len(locks) == 0


def test_the_center_keeps_no_lock_per_clip_it_ever_received(archive_rig: ArchiveRig) -> None:
    for _ in range(3):
        archive_rig.archive()
    assert len(archive_rig.app.extensions["center"].ingest.clip_locks) == 0
