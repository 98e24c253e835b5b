"""Where a clip and its manifest live in the archive's store.

Clips are grouped by product type, then branch and day of recording (UTC, the manifest's
`started_at`): `clips/<product type>/<branch>/<yyyy>/<mm>/<dd>/<clip id>.mp4`, the signed manifest
beside it as `<clip id>.mp4.manifest.json`. A product type's clips are thus one prefix of the store,
listed, copied or expired together.

Clips archived before the grouping sit at `clips/<branch>/<yyyy>/<mm>/<dd>/<clip id>.mp4` and stay
there: an object under COMPLIANCE lock cannot be moved. The catalogue keeps each recording's key, so
whoever reads a clip takes the catalogue's key and never works it out again; only the rebuild from
the store, which has no catalogue, checks that a key is one of the two a manifest may sit at.
"""

from __future__ import annotations

from urllib.parse import quote

from storage.manifest import ClipManifest

CLIP_PREFIX = "clips/"
MANIFEST_SUFFIX = ".manifest.json"


def _segment(code: str) -> str:
    # Codes are checked at the center (letters, digits, _ . -), but one entered before that check
    # must still make a single, harmless path segment.
    safe = quote(code, safe="")
    return safe.replace(".", "%2E") if set(safe) <= {"."} else safe


def _tail(manifest: ClipManifest) -> str:
    day = manifest.started_at
    return f"{_segment(manifest.branch_code)}/{day:%Y/%m/%d}/{manifest.clip_id}.mp4"


def object_key(manifest: ClipManifest, product_type_code: str) -> str:
    """The key a clip is stored at from now on."""
    return f"{CLIP_PREFIX}{_segment(product_type_code)}/{_tail(manifest)}"


def legacy_object_key(manifest: ClipManifest) -> str:
    """The key a clip archived before grouping by product type was stored at."""
    return f"{CLIP_PREFIX}{_tail(manifest)}"


def product_type_prefix(product_type_code: str) -> str:
    """Every clip of one product type stored since the grouping."""
    return f"{CLIP_PREFIX}{_segment(product_type_code)}/"


def fits_manifest(key: str, manifest: ClipManifest) -> bool:
    """Whether `key` is a place this manifest's media may be stored at, in either layout.

    The product type segment is not compared: a product moved to another type since keeps its clips
    where they were stored.
    """
    if key == legacy_object_key(manifest):
        return True
    rest = key.removeprefix(CLIP_PREFIX)
    kind, _, tail = rest.partition("/")
    return key.startswith(CLIP_PREFIX) and bool(kind) and tail == _tail(manifest)
