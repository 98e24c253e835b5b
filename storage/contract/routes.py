"""The branch API's paths: the version prefix and every route, named once for both sides.

The center's blueprints mount the `*_RULE` strings (Flask rules) under `PREFIX`; the branch client
calls the full paths. A path is also part of what a request signature covers, so a route renamed on
one side only would fail as a refused signature, which is hard to read; here it cannot drift.
"""

from __future__ import annotations

from urllib.parse import quote

PREFIX = "/api/branch/v1"

# Flask rules under PREFIX.
TIME_RULE = "/time"
CATALOG_RULE = "/catalog"
STAFF_RULE = "/staff"
BRANCH_RULE = "/branch"
HEARTBEAT_RULE = "/heartbeat"
UPLOADS_RULE = "/uploads"
UPLOAD_RULE = "/uploads/<clip_id>"
UPLOAD_PARTS_RULE = "/uploads/<clip_id>/parts"
UPLOAD_COMPLETE_RULE = "/uploads/<clip_id>/complete"
CENTRAL_CONFIG_RULE = "/central-config"
CENTRAL_CONFIG_REPORT_RULE = "/central-config/report"

# Full paths, as a branch sends (and signs) them.
TIME = PREFIX + TIME_RULE
CATALOG = PREFIX + CATALOG_RULE
STAFF = PREFIX + STAFF_RULE
BRANCH = PREFIX + BRANCH_RULE
HEARTBEAT = PREFIX + HEARTBEAT_RULE
UPLOADS = PREFIX + UPLOADS_RULE
CENTRAL_CONFIG = PREFIX + CENTRAL_CONFIG_RULE
CENTRAL_CONFIG_REPORT = PREFIX + CENTRAL_CONFIG_REPORT_RULE


def _for_clip(rule: str, clip_id: str) -> str:
    # Quoted so that an id that is not a clip id reaches the center's own check instead of another route.
    return PREFIX + rule.replace("<clip_id>", quote(clip_id, safe=""))


def upload_status(clip_id: str) -> str:
    return _for_clip(UPLOAD_RULE, clip_id)


def upload_parts(clip_id: str) -> str:
    return _for_clip(UPLOAD_PARTS_RULE, clip_id)


def upload_complete(clip_id: str) -> str:
    return _for_clip(UPLOAD_COMPLETE_RULE, clip_id)
