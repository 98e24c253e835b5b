"""The replay view of a clip: its original bytes, unchanged and in order, with seek boxes inserted.

    ftyp moov | sidx | moof mdat ... moof mdat | free( <tail> ) | mfra
    ^ original  ^new   ^ original                ^new ^ original  ^ new

- `sidx` (one per track) right after the `moov`: a browser reads them while opening the file and knows every fragment,
  so it opens and seeks with a few range requests (without it, it reads every fragment's header first:
  thousands of requests for an hour of video, whether or not the file ends with an `mfra`).
- `<tail>`: whatever follows the last complete fragment in the original, kept as it is inside a `free`
  box: the partial fragment of a clip cut off by a crash, or the `mfra` a normally closed clip ends
  with (its offsets are those of the original, so it is no index of the view; players skip `free`).
- `mfra` at the end: the fragments' random access index, with the view's offsets.

Inserting the `sidx` moves each fragment by its size; the fragments' sample offsets are relative to
their own `moof` (default-base-is-moof), so the fragments play exactly as in the original.
"""

from __future__ import annotations

from storage.mp4_index import FragmentIndex
from storage.mp4_seek_boxes import box_header, build_mfra, build_sidx
from storage.virtual_media import Inserted, Original, VirtualMedia


def replay_view(index: FragmentIndex) -> VirtualMedia:
    """The view a player is served; the original as it is when nothing can be indexed."""
    size = index.media_size
    if not index.fragment_count or not 0 < index.moov_end <= index.moof_offsets[0]:
        return VirtualMedia.as_is(size)
    tail = size - index.fragments_end
    wrapper = box_header(b"free", tail) if tail else b""
    sidx = _segment_indexes(index, last_extra=len(wrapper) + tail)
    if not sidx:
        return VirtualMedia.as_is(size)
    return VirtualMedia(
        [
            Original(0, index.moov_end),
            Inserted(sidx),
            Original(index.moov_end, index.fragments_end),
            Inserted(wrapper),
            Original(index.fragments_end, size),
            Inserted(build_mfra(index, shift=len(sidx))),
        ]
    )


def _segment_indexes(index: FragmentIndex, last_extra: int) -> bytes:
    """One sidx per track with samples, one after the other, each covering every fragment.

    A player that finds a track without one searches that track's fragments by reading them.
    """
    gap = index.moof_offsets[0] - index.moov_end  # bytes between the moov and the first moof
    tracks = [t for t in index.tracks if t.track_id in index.end_times]
    drafts = [build_sidx(index, t, 0, last_extra) for t in tracks]
    if not drafts or any(d is None for d in drafts):
        return b""
    lengths = [len(d) for d in drafts if d is not None]
    boxes = []
    for n, track in enumerate(tracks):
        built = build_sidx(index, track, sum(lengths[n + 1 :]) + gap, last_extra)
        if built is None:
            return b""
        boxes.append(built)
    return b"".join(boxes)
