"""Branch API secrets are sealed in the catalogue: a copy of the database yields no branch's secret,
while signed branch requests keep working, across a restart and a rotation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from center_platform.admin.organisation import rotate_branch_secret
from center_platform.app import create_app
from center_platform.db.models import Branch
from center_platform.db.sealed_secrets import PREFIX, SealedSecretError, branch_purpose, unseal
from storage.contract import routes
from tests.center_platform.archive_rig import BRANCH_CODE, BRANCH_SECRET, ArchiveRig, archive_rig, signed_branch_request  # noqa: F401


def _stored(rig: ArchiveRig) -> str:
    with rig.sessions() as db:
        return db.execute(select(Branch.api_secret).where(Branch.code == BRANCH_CODE)).scalar_one()


def test_a_secret_stored_in_the_clear_is_sealed_at_the_next_start_and_still_signs(archive_rig: ArchiveRig) -> None:
    assert _stored(archive_rig) == BRANCH_SECRET  # as a center from before sealing left it
    restarted = create_app(archive_rig.config, archive_rig.store)
    try:
        with restarted.extensions["center"].sessions() as db:
            stored = db.execute(select(Branch.api_secret).where(Branch.code == BRANCH_CODE)).scalar_one()
        assert stored.startswith(PREFIX) and BRANCH_SECRET not in stored
        client = restarted.test_client()
        assert signed_branch_request(client, "GET", routes.CATALOG)[0].status_code == 200
        assert signed_branch_request(client, "GET", routes.CATALOG, secret="not-the-secret")[0].status_code == 401
        # Another center's data key does not open it: the database alone is not enough.
        with pytest.raises(SealedSecretError, match="data key"):
            unseal(b"another center's key", stored, branch_purpose(BRANCH_CODE))
    finally:
        restarted.extensions["center"].engine.dispose()


def test_a_rotated_secret_is_sealed_and_signs_at_once(archive_rig: ArchiveRig) -> None:
    with archive_rig.sessions() as db:
        fresh = rotate_branch_secret(db, "sysadmin", BRANCH_CODE)
        db.commit()
    stored = _stored(archive_rig)
    assert stored.startswith(PREFIX) and fresh not in stored
    client = archive_rig.branch_client()
    assert signed_branch_request(client, "GET", routes.CATALOG, secret=fresh)[0].status_code == 200
    assert signed_branch_request(client, "GET", routes.CATALOG)[0].status_code == 401  # the old one is gone
