"""The roles of branch staff: assigned at the center, synced to the branch, enforced at the counter.

The values are what both databases store, so they never change; a new role is added here first.
Center users (compliance officers, auditors...) have roles of their own, which never reach a branch.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

StaffRole = Literal["relationship_manager", "branch_admin"]

RELATIONSHIP_MANAGER: Final = "relationship_manager"
BRANCH_ADMIN: Final = "branch_admin"
STAFF_ROLES: Final[tuple[StaffRole, ...]] = get_args(StaffRole)
