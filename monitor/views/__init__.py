"""Web views: each blueprint registers itself here."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprints and the CLI."""
    from monitor import cli
    from monitor.views import home

    app.register_blueprint(home.bp)
    cli.init_app(app)
