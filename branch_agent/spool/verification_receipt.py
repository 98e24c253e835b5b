"""Whether a clip's stored receipt is the center's signed word that it verified that very clip.

The uploader keeps the signed reply of the center's *complete* call with the clip (checked against the
branch's API secret when it arrived, `center_link.client`); the spool purge deletes media only where
this says yes. The signature is not checked again here: the API secret may have been rotated since,
and a receipt is only ever written after its check.
"""

from __future__ import annotations

import json

from storage.contract import routes
from storage.contract.reply_signing import ReplyReceipt


def confirms_verified(receipt_json: str | None, clip_id: str) -> bool:
    if not receipt_json:
        return False
    try:
        receipt = ReplyReceipt.from_json(receipt_json)
        body = json.loads(receipt.body)
    except (ValueError, KeyError, TypeError):
        return False
    return (
        receipt.method == "POST"
        and receipt.path.endswith(routes.upload_complete(clip_id))
        and receipt.status == 200
        and len(receipt.signature) == 64
        and isinstance(body, dict)
        and body.get("clip_id") == clip_id
        and body.get("state") == "verified"
    )
