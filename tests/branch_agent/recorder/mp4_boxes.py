"""Reads an MP4's top-level box types, to tell a fragmented file (moof/mdat pairs) from a plain one."""

from __future__ import annotations

import struct
from pathlib import Path


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes
