"""The fragment index of a spool clip, kept in a file beside it, and the view the counter's player is served.

The clip file is evidence and is never written to. Its index (`storage.mp4_index`) goes next to it as
`<clip>.replay-index`: made when a clip cut off by a crash is recovered, or on the first replay, by
reading each fragment's header and seeking past its media data. The player is served the clip's
replay view (`storage.replay_view`): the file's bytes with seek boxes inserted, so a long or an
interrupted clip opens and seeks as fast as a short one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from storage.mp4_index import FragmentIndex, Mp4IndexError, scan_file
from storage.replay_view import replay_view
from storage.virtual_media import VirtualMedia

log = logging.getLogger(__name__)
SUFFIX = ".replay-index"
VIEWS_CACHED = 8

_views: OrderedDict[tuple[str, int, int], VirtualMedia] = OrderedDict()
_guard = threading.Lock()


def index_path(media: Path) -> Path:
    return media.with_suffix(SUFFIX)


def load_or_build_index(media: Path) -> FragmentIndex | None:
    """The clip's index from the file beside it, made (and kept) if missing or stale; None if it has none."""
    size = media.stat().st_size
    kept = index_path(media)
    try:
        index = FragmentIndex.from_bytes(kept.read_bytes())
        if index.media_size == size:
            return index
    except (OSError, Mp4IndexError):
        pass
    try:
        index = scan_file(media)
    except Mp4IndexError as exc:
        log.warning("clip %s cannot be indexed for replay (%s); it is played as it is", media.name, exc)
        return None
    _write_beside(kept, index.to_bytes())
    return index


def _write_beside(path: Path, data: bytes) -> None:
    """Written whole or not at all; a lost index is only made again."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("replay index %s not kept: %s", path, exc)
        tmp.unlink(missing_ok=True)


def replay_view_of(media: Path) -> VirtualMedia:
    """What the player is served for this clip file."""
    stat = media.stat()
    key = (str(media), stat.st_size, stat.st_mtime_ns)
    with _guard:
        if key in _views:
            _views.move_to_end(key)
            return _views[key]
    index = load_or_build_index(media)
    view = replay_view(index) if index is not None else VirtualMedia.as_is(stat.st_size)
    with _guard:
        _views[key] = view
        while len(_views) > VIEWS_CACHED:
            _views.popitem(last=False)
    return view


def build_index_quietly(media: Path) -> None:
    """Make the index now (at recovery), so the first replay does not wait; never fails the caller."""
    try:
        load_or_build_index(media)
    except OSError as exc:
        log.warning("replay index of %s not made: %s", media.name, exc)


def remove_index(media: Path) -> None:
    index_path(media).unlink(missing_ok=True)
