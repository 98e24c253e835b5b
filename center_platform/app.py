"""The center's app factory: builds services once and registers one blueprint per module of `center_platform.web`."""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Flask

from center_platform.archive.replay import ReplayService, ReplaySettings
from center_platform.config import CenterConfig
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.sealed_secrets import reseal_branch_secrets
from center_platform.ingest.service import IngestService
from center_platform.retention.minimum import report_below_minimum
from center_platform.retention.rules import last_day_kept
from center_platform.services import CenterServices
from storage.object_store import ObjectStore


def create_app(config: CenterConfig, store: ObjectStore, migrate: bool = True) -> Flask:
    url = config.database_url()
    if migrate:
        upgrade_to_head(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine, config.session_info())
    resealed = reseal_branch_secrets(sessions)
    if resealed:
        logging.getLogger(__name__).warning("sealed %d branch API secrets that were stored in the clear", resealed)
    svc = CenterServices(
        config=config,
        engine=engine,
        sessions=sessions,
        store=store,
        ingest=IngestService(
            sessions=sessions,
            store=store,
            part_size=config.storage.part_size_mb * 1024 * 1024,
            presign_expiry_s=config.storage.presign_expiry_s,
            max_clip_age=timedelta(days=config.storage.max_clip_age_days),
        ),
        display_tz=ZoneInfo(config.server.timezone),
        replay=ReplayService(
            sessions,
            store,
            ReplaySettings(
                max_concurrent_reads=config.replay.max_concurrent_reads,
                max_response_bytes=config.replay.max_response_mb * 1024 * 1024,
                slot_wait_s=config.replay.slot_wait_ms / 1000,
            ),
        ),
    )
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=config.secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: the cookie goes along when a user follows a link here, never with another site's POST
        # (which the CSRF token refuses anyway). Secure: HTTPS only, as production should be.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.security.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.security.session_idle_minutes),
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["center"] = svc
    report_below_minimum(sessions, config.retention.minimum_years)  # logged, never changed
    app.jinja_env.filters["last_day_kept"] = last_day_kept

    from center_platform.web import (
        access_guard,
        alerts_api,
        alerts_ui,
        audit_api,
        audit_ui,
        branch_api,
        branch_config_api,
        branch_config_ui,
        capacity_ui,
        catalogue_api,
        catalogue_ui,
        central_config_api,
        devices_ui,
        export_api,
        grouping_api,
        grouping_ui,
        hardening,
        health,
        heartbeat_api,
        ledger_api,
        operations_api,
        operations_ui,
        reconciliation_api,
        reconciliation_ui,
        recordings_api,
        reports_api,
        reports_ui,
        retention_admin_api,
        retention_api,
        search_export_api,
        session_api,
        supplementary_api,
        supplementary_branch_api,
        supplementary_ui,
        ui,
    )

    hardening.install(app, config.security)  # security headers, sign-in throttle, bounds on exports and completions
    blueprints = (
        access_guard.bp,  # first: it refuses whatever `roles` does not grant, before any other handler runs
        health.bp,
        session_api.bp,
        branch_api.bp,
        heartbeat_api.bp,
        ledger_api.bp,
        recordings_api.bp,
        search_export_api.bp,
        export_api.bp,
        retention_api.bp,
        retention_admin_api.bp,
        operations_api.bp,
        catalogue_api.bp,
        audit_api.bp,
        ui.bp,
        operations_ui.bp,
        devices_ui.bp,
        alerts_ui.bp,
        alerts_api.bp,
        catalogue_ui.bp,
        audit_ui.bp,
        reconciliation_api.bp,
        reconciliation_ui.bp,
        reports_api.bp,
        reports_ui.bp,
        capacity_ui.bp,
        central_config_api.bp,
        branch_config_api.bp,
        branch_config_ui.bp,
        supplementary_api.bp,
        supplementary_branch_api.bp,
        supplementary_ui.bp,
        grouping_api.bp,
        grouping_ui.bp,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    logging.getLogger(__name__).info(
        "center ready: database %s, bucket %s", engine.url.render_as_string(hide_password=True), store.bucket
    )
    return app
