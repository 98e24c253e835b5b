"""The branch agent's app factory."""

from __future__ import annotations

from flask import Flask, render_template

from branch_agent.services import BranchServices


def create_app(services: BranchServices, secret_key: str) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.update(SECRET_KEY=secret_key, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict", MAX_CONTENT_LENGTH=1024 * 1024)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["branch"] = services
    app.extensions["login_failures"] = {}

    from branch_agent.web import api

    app.register_blueprint(api.bp)

    @app.get("/")
    def counter_page():  # type: ignore[no-untyped-def]
        return render_template("counter.html", branch=services.config.branch.name, counters=[c.code for c in services.config.counters])

    @app.get("/healthz")
    def health():  # type: ignore[no-untyped-def]
        sources = [h for s in services.sources.values() for h in s.health()]
        ok = all(h.connected for h in sources)
        return {"status": "ok" if ok else "degraded", "sources": [{"name": h.name, "connected": h.connected} for h in sources]}, (200 if ok else 503)

    return app
