"""The check's child process: a JSON request in, the report as JSON on standard output.

    python -m storage.quality --request '{"clip": "...", "policy": {...}, "facts": {...}, "niceness": 19, "threads": 1}'

Run so by ``storage.quality.runner``; also by hand: ``python -m storage.quality CLIP`` checks CLIP
with the default policy and no manifest facts.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from storage.quality.runner import quiet_process

    if len(argv) == 2 and argv[0] == "--request":
        request: dict[str, object] = json.loads(argv[1])
    elif len(argv) == 1:
        request = {"clip": argv[0]}
    else:
        sys.stderr.write("usage: python -m storage.quality CLIP | --request JSON\n")
        return 2
    niceness, threads = request.get("niceness", 19), request.get("threads", 1)
    quiet_process(int(niceness) if isinstance(niceness, int) else 19, int(threads) if isinstance(threads, int) else 1)

    from storage.quality.analyse import analyse_clip
    from storage.quality.policy import ManifestFacts, QualityPolicy

    policy = QualityPolicy.model_validate(request.get("policy") or {})
    facts = ManifestFacts.model_validate(request.get("facts") or {})
    report = analyse_clip(str(request["clip"]), policy, facts)
    sys.stdout.write(report.model_dump_json())
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
