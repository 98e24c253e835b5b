"""Who may do what on the branch agent: the staff roles and which role may use which endpoint.

This module is the only place that grants access. The access guard refuses every endpoint it does not
name: a route added without a line here is closed for everybody. Views ask the helpers at the bottom
what a role sees inside a route they may use (other managers' clips, an older day); they name no roles.

The roles themselves are assigned at the center and synced with the staff list (`storage.contract.roles`).
"""

from __future__ import annotations

from typing import Final

from storage.contract.roles import BRANCH_ADMIN, RELATIONSHIP_MANAGER, STAFF_ROLES, StaffRole

__all__ = [
    "BRANCH_ADMIN",
    "COUNTER_ROLES",
    "PAGE_ENDPOINTS",
    "PUBLIC_ENDPOINTS",
    "RELATIONSHIP_MANAGER",
    "StaffRole",
    "may",
    "roles_for",
    "sees_whole_branch",
]

# Who may sign in at the counter at all: every staff role the center assigns.
COUNTER_ROLES: Final[frozenset[str]] = frozenset(STAFF_ROLES)
_RM: Final = frozenset({RELATIONSHIP_MANAGER})
_ADMIN: Final = frozenset({BRANCH_ADMIN})

# The sign-in page (the counter page signs in first), its scripts and styles, liveness, and signing in.
PUBLIC_ENDPOINTS: Final = frozenset(
    {
        "static",
        "health.health",
        "ui.counter_page",
        "session_api.sign_in",
        "session_api.current",  # answers 401 itself when nobody is signed in
    }
)

ENDPOINT_GRANTS: Final[dict[str, frozenset[str]]] = {
    # Anyone signed in: sign out, the product list, counter status and preview, replay (own clips of
    # today for a manager, the whole branch for its admin: see sees_whole_branch).
    "session_api.sign_out": COUNTER_ROLES,
    "recording_api.products": COUNTER_ROLES,
    "recording_api.counter_status": COUNTER_ROLES,
    "recording_api.preview": COUNTER_ROLES,
    "admin_api.status": COUNTER_ROLES,
    "clips_api.clips": COUNTER_ROLES,
    "clips_api.media": COUNTER_ROLES,
    "clips_api.quality": COUNTER_ROLES,
    # The counter's actions: only the relationship manager selling records the sale.
    "recording_api.new_serial": _RM,
    "recording_api.start": _RM,
    "recording_api.marker": _RM,
    "recording_api.complete": _RM,
    "recording_api.cancel": _RM,
    "recording_api.refusal": _RM,
    # The branch admin's page: cameras, disk, upload queue, upload now.
    "ui.admin_page": _ADMIN,
    "admin_api.overview": _ADMIN,
    "admin_api.upload_now": _ADMIN,
    "admin_api.diagnose_now": _ADMIN,
    "admin_api.set_reference": _ADMIN,
    # A recording made on another device while the appliance was down, imported by the branch admin.
    "import_api.create": _ADMIN,
    # Supplementary recordings of the branch: approved or rejected by its admin.
    "supplementary_api.listing": _ADMIN,
    "supplementary_api.decision": _ADMIN,
}

# Pages send whoever may not see them back to the sign-in page instead of answering 401 or 403.
PAGE_ENDPOINTS: Final = frozenset({"ui.counter_page", "ui.admin_page"})


def roles_for(endpoint: str) -> frozenset[str]:
    """The roles granted `endpoint`; empty for public and undeclared endpoints."""
    return ENDPOINT_GRANTS.get(endpoint, frozenset())


def may(role: str, endpoint: str) -> bool:
    return role in roles_for(endpoint)


def sees_whole_branch(role: str) -> bool:
    """Every clip of the branch, any day, and the sale behind another's recording: the branch admin.

    A relationship manager sees and replays only their own clips of today.
    """
    return role == BRANCH_ADMIN
