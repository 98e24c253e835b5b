"""Who may do what at the center: the roles of center users and which role may use which endpoint.

This module is the only place that grants access. The access guard refuses every endpoint it does not
name: a route added without a line here is closed for everybody. Views ask the helpers at the bottom
what a role sees inside a route they may use (full ID numbers, other branches); they name no roles.

Branch staff (relationship managers, branch admins at the counter) have roles of their own
(`storage.contract.roles`); the center's `branch_admin` user is the same person's center account.
"""

from __future__ import annotations

from typing import Final

COMPLIANCE: Final = "compliance_officer"
SYSTEM_ADMIN: Final = "system_admin"
AUDITOR: Final = "auditor"
BRANCH_ADMIN: Final = "branch_admin"
ROLES: Final = (COMPLIANCE, SYSTEM_ADMIN, AUDITOR, BRANCH_ADMIN)

# Search, replay and the result list: a branch admin only over the own branch (see own_branch_only).
SEARCHERS: Final = frozenset({COMPLIANCE, BRANCH_ADMIN})
# Upload backlog and heartbeats per branch.
OPERATORS: Final = frozenset({SYSTEM_ADMIN, COMPLIANCE})
# The audit trail and deletion certificates.
AUDIT_READERS: Final = frozenset({AUDITOR, SYSTEM_ADMIN})
# Ledger, staff assessment and trend reports.
REPORT_READERS: Final = frozenset({COMPLIANCE, AUDITOR, BRANCH_ADMIN})

# Sign-in, liveness and the branch clock check: nothing behind them reveals or changes evidence.
PUBLIC_ENDPOINTS: Final = frozenset(
    {
        "static",
        "health.health",
        "ui.index",
        "ui.login",
        "session_api.login",
        "branch_api.center_time",
    }
)

# Blueprints that branches call with HMAC-signed requests (`branch_auth.require_branch`); no user reaches them.
# `ledger_api` is the core banking system's, signed the same way with its own key (CENTER_LEDGER_API_SECRET).
BRANCH_SIGNED_BLUEPRINTS: Final = frozenset(
    {"branch_api", "heartbeat_api", "ledger_api", "central_config_api", "supplementary_branch_api"}
)

# Every endpoint of a blueprint goes to these roles, unless ENDPOINT_GRANTS names the endpoint.
BLUEPRINT_GRANTS: Final[dict[str, frozenset[str]]] = {
    "recordings_api": SEARCHERS,
    "search_export_api": SEARCHERS,
    "export_api": frozenset({COMPLIANCE}),
    "retention_api": frozenset({COMPLIANCE}),
    # Deletion after retention lives in the admin area: admins never reach the evidence routes.
    "retention_admin_api": frozenset({SYSTEM_ADMIN}),
    "catalogue_api": frozenset({SYSTEM_ADMIN}),
    "catalogue_ui": frozenset({SYSTEM_ADMIN}),
    "operations_api": OPERATORS,
    "operations_ui": OPERATORS,
    # Every branch device and the alerts: seen, acknowledged and cleared by operators.
    "devices_ui": OPERATORS,
    "alerts_ui": OPERATORS,
    "alerts_api": OPERATORS,
    "capacity_ui": OPERATORS,
    # Cameras, upload window and limits of each branch, pulled by the branch: system admins.
    "branch_config_api": frozenset({SYSTEM_ADMIN}),
    "branch_config_ui": frozenset({SYSTEM_ADMIN}),
    "audit_api": AUDIT_READERS,
    "audit_ui": AUDIT_READERS,
    # Sales ledger, reconciliation and its gaps: compliance officers.
    "reconciliation_api": frozenset({COMPLIANCE}),
    "reconciliation_ui": frozenset({COMPLIANCE}),
    # Reports: a branch admin sees the own branch's only (own_branch_only).
    "reports_api": REPORT_READERS,
    "reports_ui": REPORT_READERS,
    # Supplementary recordings: approved or rejected by compliance here, by the branch admin at the branch.
    "supplementary_api": frozenset({COMPLIANCE}),
    "supplementary_ui": frozenset({COMPLIANCE}),
    # The archive by product type, branch and day (a branch admin: the own branch only).
    "grouping_api": SEARCHERS,
    "grouping_ui": SEARCHERS,
}

ENDPOINT_GRANTS: Final[dict[str, frozenset[str]]] = {
    # Signing out needs a session and its CSRF token: another site's form cannot sign anyone out.
    "session_api.logout": frozenset(ROLES),
    "ui.logout": frozenset(ROLES),
    "ui.recordings": SEARCHERS,
    "ui.player": SEARCHERS,
    # Exporting a product type's clips is an evidence export: compliance officers only.
    "grouping_api.export": frozenset({COMPLIANCE}),
    "grouping_ui.export": frozenset({COMPLIANCE}),
}

# Where a role lands after signing in: the first of these pages it may use.
LANDING_PAGES: Final = ("ui.recordings", "catalogue_ui.home", "audit_ui.events")


def blueprint_of(endpoint: str) -> str:
    """ "recordings_api.media" -> "recordings_api"; an app-level endpoint has none ("")."""
    return endpoint.rpartition(".")[0]


def roles_for(endpoint: str) -> frozenset[str]:
    """The roles granted `endpoint`; empty for public, branch-signed and undeclared endpoints."""
    if endpoint in ENDPOINT_GRANTS:
        return ENDPOINT_GRANTS[endpoint]
    return BLUEPRINT_GRANTS.get(blueprint_of(endpoint), frozenset())


def may(role: str, endpoint: str) -> bool:
    return role in roles_for(endpoint)


def landing_page(role: str) -> str:
    return next((e for e in LANDING_PAGES if may(role, e)), "ui.login")


def sees_full_identifiers(role: str) -> bool:
    """ID and card numbers in full: compliance officers only; everybody else sees them masked."""
    return role == COMPLIANCE


def own_branch_only(role: str) -> bool:
    """A branch admin searches and replays only the recordings of the branch they administer."""
    return role == BRANCH_ADMIN
