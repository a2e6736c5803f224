"""Recruitment Monitor: the Flask application factory.

`create_app()` builds the web app: defaults, then `MONITOR_*` environment
variables, then an optional test config. Each part registers itself with
`init_app(app)`, as in Flask's tutorial. Behind `TRUSTED_PROXIES` reverse
proxies (default 0), werkzeug's `ProxyFix` takes the client's address and
scheme from the `X-Forwarded-For` / `X-Forwarded-Proto` entries those
proxies added, so the sign-in and public-check rate limits count per client;
with 0 the headers are ignored (a client cannot pick its own address).
`LOG_FORMAT=json` makes every log record a JSON line (`monitor.logs`).
`create_app(web=False)` is the command line's app: settings, database and
commands, without the pages, the API and their imports (the `monitor`
script starts faster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from monitor import config, db, logs


def create_app(test_config: dict[str, Any] | None = None, *, web: bool = True) -> Flask:
    """Create and configure the monitor's Flask app (`web=False`: its commands only)."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=config.instance_path(),
        template_folder=str(config.PROJECT_ROOT / "templates"),
    )
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
        config.check(app.config)
    if app.config["LOG_FORMAT"] == "json":
        logs.configure("json")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    app.extensions["monitor.web"] = web
    if web:
        from monitor import views

        views.init_app(app)
        proxies = int(app.config["TRUSTED_PROXIES"])
        if proxies:
            from werkzeug.middleware.proxy_fix import ProxyFix

            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    else:
        from monitor import cli

        cli.init_app(app)
    return app
