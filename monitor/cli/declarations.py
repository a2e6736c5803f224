"""CLI commands of the declarations domain (placeholder until its issue lands)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's commands."""
