"""Web views: each blueprint registers itself here."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprints and the CLI."""
    from monitor import api, auth, cli
    from monitor.views import (
        admin,
        agencies,
        assignments,
        audit_runs,
        batches,
        cases,
        dashboard,
        decisions,
        file_templates,
        flag_pages,
        health,
        home,
        public,
        sanctions,
    )
    from monitor.views import auth as auth_views

    app.register_blueprint(home.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(file_templates.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(agencies.bp)
    app.register_blueprint(agencies.registry_bp)
    app.register_blueprint(flag_pages.bp)
    app.register_blueprint(decisions.bp)
    app.register_blueprint(assignments.bp)
    app.register_blueprint(sanctions.bp)
    app.register_blueprint(audit_runs.bp)
    app.register_blueprint(health.bp)
    auth.init_app(app)
    health.init_app(app)
    public.init_app(app)
    api.init_app(app)
    cli.init_app(app)
