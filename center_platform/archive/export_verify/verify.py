#!/usr/bin/env python3
"""Offline check of a dual-recording evidence package. Python 3.8+ standard library only.

Run it inside the unzipped package folder (or pass the folder):  python3 verify.py [FOLDER]
Prints PASS or FAIL for every check and exits 0 only when all of them pass.

What is checked:
  1. every file listed in SHA256SUMS has that SHA-256 (the same as `sha256sum -c SHA256SUMS`);
  2. the clip's size and SHA-256 are those its manifest declares;
  3. the manifest's Ed25519 signature verifies with the branch public key in the package
     (RFC 8032, implemented below so that nothing needs installing);
  4. the manifest chain: previous_manifest.json (when included) hashes to this manifest's
     prev_manifest_sha256, next_manifest.json (when included) names this manifest's hash, and both
     are signed by the branch: by the same key, or, when the branch's key was replaced between them,
     by the key branch_keys.json lists under the key id the neighbour names;
  5. every audit row's hash is recomputed from its content and its prev_hash, and rows that were
     consecutive in the center's trail link to each other.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys

# -- Ed25519 verification (RFC 8032 section 5.1.7, after the reference code of section 6) -------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _same_point(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(encoded):
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_BASE = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only if `signature` is a valid Ed25519 signature of `message` by `public_key`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    return _same_point(_mul(s, _BASE), _add(r, _mul(k, a)))


# -- the package ----------------------------------------------------------------------------------

GENESIS = "0" * 64


def canonical_json(data) -> bytes:
    """The product's canonical form: keys sorted, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_file(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1024 * 1024)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        if ok:
            print("PASS  " + what)
        else:
            self.failures += 1
            print("FAIL  " + what + (": " + why if why else ""))
        return ok


def check_sums(folder, report):
    path = os.path.join(folder, "SHA256SUMS")
    if not report.check(os.path.isfile(path), "SHA256SUMS present"):
        return set()
    listed = set()
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            if len(line) < 67 or line[64:66] not in ("  ", " *"):
                report.check(False, "SHA256SUMS line %d" % n, "not in `HASH  NAME` form")
                continue
            expected, name = line[:64].lower(), line[66:]
            if os.path.basename(name) != name or name in ("", ".", ".."):
                report.check(False, "SHA256SUMS line %d" % n, "%r is not a plain file name" % name)
                continue
            listed.add(name)
            target = os.path.join(folder, name)
            if not os.path.isfile(target):
                report.check(False, "sha256 " + name, "file is missing")
                continue
            actual, _ = sha256_file(target)
            report.check(actual == expected, "sha256 " + name, "file has %s, SHA256SUMS says %s" % (actual, expected))
    return listed


def load_manifest(folder, report):
    try:
        with open(os.path.join(folder, "manifest.json"), "rb") as fh:
            raw = fh.read()
        manifest = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.check(False, "manifest.json readable", str(exc))
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("media"), dict):
        report.check(False, "manifest.json readable", "not a clip manifest")
        return None
    report.check(
        canonical_json(manifest) == raw, "manifest.json is in canonical form", "bytes were reformatted or changed"
    )
    return manifest


def check_clip(folder, manifest, report):
    clip_name = "%s.mp4" % manifest.get("clip_id", "")
    path = os.path.join(folder, clip_name)
    if not report.check(os.path.isfile(path), "clip %s present" % clip_name, "file is missing"):
        return
    digest, size = sha256_file(path)
    media = manifest["media"]
    report.check(
        size == media.get("size"),
        "clip size matches the manifest",
        "file has %d bytes, manifest says %s" % (size, media.get("size")),
    )
    report.check(
        digest == media.get("sha256"),
        "clip SHA-256 matches the manifest",
        "file has %s, manifest says %s" % (digest, media.get("sha256")),
    )


def _branch_key(folder):
    try:
        with open(os.path.join(folder, "branch_public_key.txt"), encoding="ascii") as fh:
            return base64.b64decode(fh.read().strip(), validate=True)
    except (OSError, ValueError):
        return None


def _neighbour_key(folder, neighbour, own_key):
    """The branch key a neighbouring manifest names: this clip's key, or another version in branch_keys.json."""
    sig = neighbour.get("signature") if isinstance(neighbour, dict) else None
    key_id = sig.get("key_id") if isinstance(sig, dict) else None
    if own_key is not None and key_id == hashlib.sha256(own_key).hexdigest()[:16]:
        return own_key
    try:
        with open(os.path.join(folder, "branch_keys.json"), encoding="ascii") as fh:
            versions = json.load(fh)
    except (OSError, ValueError):
        return own_key
    for version in versions if isinstance(versions, list) else []:
        try:
            raw = base64.b64decode(str(version.get("public_key", "")), validate=True)
        except (ValueError, AttributeError):
            continue
        if hashlib.sha256(raw).hexdigest()[:16] == key_id:
            return raw
    return own_key


def _signed_by(manifest, public_key) -> bool:
    sig = manifest.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
        return False
    try:
        signature = base64.b64decode(str(sig.get("value", "")), validate=True)
    except ValueError:
        return False
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return ed25519_verify(public_key, canonical_json(unsigned), signature)


def check_signature(folder, manifest, report):
    public_key = _branch_key(folder)
    if not report.check(
        public_key is not None and len(public_key) == 32,
        "branch public key readable",
        "branch_public_key.txt is missing or not a base64 Ed25519 key",
    ):
        return
    sig = manifest.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
        report.check(False, "manifest signature", "the manifest carries no Ed25519 signature")
        return
    key_id = hashlib.sha256(public_key).hexdigest()[:16]
    report.check(
        sig.get("key_id") == key_id,
        "manifest names the included branch key",
        "signed by key %s, the package holds key %s" % (sig.get("key_id"), key_id),
    )
    # The branch signs the canonical manifest without its `signature` member.
    report.check(
        _signed_by(manifest, public_key), "manifest Ed25519 signature by the branch key", "signature does not verify"
    )


def check_chain(folder, manifest, report):
    public_key = _branch_key(folder)
    own_hash, _ = sha256_file(os.path.join(folder, "manifest.json"))
    prev_hash = manifest.get("prev_manifest_sha256")
    shown = False
    for name, relation in (("previous_manifest.json", "previous"), ("next_manifest.json", "next")):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        shown = True
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            neighbour = json.loads(raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            report.check(False, "chain: %s readable" % name, str(exc))
            continue
        if relation == "previous":
            actual = hashlib.sha256(raw).hexdigest()
            report.check(
                actual == prev_hash,
                "chain: previous manifest is the one this manifest names",
                "it hashes to %s, this manifest names %s" % (actual, prev_hash),
            )
        else:
            named = neighbour.get("prev_manifest_sha256") if isinstance(neighbour, dict) else None
            report.check(
                named == own_hash,
                "chain: next manifest names this manifest",
                "it names %s, this manifest hashes to %s" % (named, own_hash),
            )
        key = _neighbour_key(folder, neighbour, public_key)
        report.check(
            isinstance(neighbour, dict) and key is not None and _signed_by(neighbour, key),
            "chain: %s manifest signed by the branch key" % relation,
            "signature does not verify",
        )
    if not shown:
        note = "first of the branch's chain" if prev_hash is None else "neighbours not in the package"
        print("NOTE  chain: %s" % note)


def event_hash(row) -> str:
    payload = canonical_json(
        {
            "prev": row["prev_hash"],
            "at": row["at"],
            "actor": row["actor"],
            "action": row["action"],
            "target": row["target"],
            "detail": row["detail"],
        }
    )
    return hashlib.sha256(payload).hexdigest()


def check_audit(folder, manifest, report):
    rows, head = [], None
    try:
        with open(os.path.join(folder, "audit.jsonl"), encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                item = json.loads(line)
                if "chain_head" in item:
                    head = item["chain_head"]
                else:
                    rows.append((n, item))
    except (OSError, ValueError) as exc:
        report.check(False, "audit.jsonl readable", str(exc))
        return
    report.check(bool(rows), "audit extract holds the clip's events", "no audit rows")
    fields = ("id", "at", "actor", "action", "target", "detail", "prev_hash", "hash")
    previous = None
    for n, row in rows:
        what = "audit row %s (%s)" % (row.get("id", "?"), row.get("action", "?"))
        if not isinstance(row, dict) or any(not isinstance(row.get(f), str if f != "id" else int) for f in fields):
            report.check(False, what, "line %d lacks one of %s" % (n, ", ".join(fields)))
            previous = None
            continue
        report.check(event_hash(row) == row["hash"], what + " content matches its hash", "the row was edited")
        if previous is not None and row["id"] == previous["id"] + 1:
            report.check(
                row["prev_hash"] == previous["hash"],
                what + " links to row %d" % previous["id"],
                "a consecutive row was altered or replaced",
            )
        if previous is not None and row["id"] <= previous["id"]:
            report.check(False, what, "rows are out of order")
        previous = row
    mentions = [r for _, r in rows if r.get("target") == manifest.get("clip_id")]
    report.check(len(mentions) == len(rows), "audit rows are about this clip", "some rows name another target")
    recorded = head if isinstance(head, dict) else {}
    if report.check(len(str(recorded.get("hash", ""))) == 64, "audit chain head recorded"):
        print("      chain head at export: %s (%s rows)" % (recorded.get("hash"), recorded.get("count")))


def main(argv) -> int:
    folder = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    report = Report()
    print("Verifying evidence package in %s" % folder)
    listed = check_sums(folder, report)
    for required in ("manifest.json", "branch_public_key.txt", "audit.jsonl"):
        report.check(required in listed, "SHA256SUMS covers " + required, "not listed")
    if os.path.isfile(os.path.join(folder, "branch_keys.json")):
        report.check("branch_keys.json" in listed, "SHA256SUMS covers branch_keys.json", "not listed")
    manifest = load_manifest(folder, report)
    if manifest is not None:
        report.check("%s.mp4" % manifest.get("clip_id") in listed, "SHA256SUMS covers the clip", "not listed")
        check_clip(folder, manifest, report)
        check_signature(folder, manifest, report)
        check_chain(folder, manifest, report)
        check_audit(folder, manifest, report)
    if report.failures:
        print("RESULT: FAIL (%d check(s) failed)" % report.failures)
        return 1
    print("RESULT: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
