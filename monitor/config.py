"""Settings: their defaults, the environment and their checks.

Every setting can be given as a `MONITOR_<NAME>` environment variable
(`MONITOR_DATABASE_URL`, `MONITOR_HOME_COUNTRY`, ...). Audit thresholds
default to the values of the data contract (docs/contract.md).
`from_environment()` reads them the way the web app does, for the
scheduled audit, which runs without the app.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import Config

from monitor.logs import LOG_FORMATS

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DECIMAL_THRESHOLDS = (
    "FEE_CAP_TOLERANCE",
    "UNDERDECLARED_RATIO",
    "UNDERDECLARED_MIN_USD",
    "OUTLIER_Z",
)
INTEGER_THRESHOLDS = ("OUTLIER_MIN_PLACEMENTS", "DUPLICATE_WORKER_DAYS", "NAME_SIMILARITY")
# Whole numbers that may be 0 (monitor.create_app, the readiness check).
COUNT_SETTINGS = ("TRUSTED_PROXIES", "ROTATION_DECISIONS", "AUDIT_PARALLEL_WORKERS")
RATE_LIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix")
# Whole numbers above 0: request bodies, readiness, sessions, sign-in lockout, deadlines,
# the fee summary's interval.
ACCOUNT_SETTINGS = (
    "ANONYMOUS_MAX_CONTENT_LENGTH",
    "READY_AUDIT_HOURS",
    "SESSION_IDLE_MINUTES",
    "SESSION_ABSOLUTE_HOURS",
    "LOGIN_LOCKOUT_FAILURES",
    "LOGIN_LOCKOUT_MINUTES",
    "DEADLINE_DAYS_HIGH",
    "DEADLINE_DAYS_MEDIUM",
    "DEADLINE_DAYS_LOW",
    "FEE_SUMMARY_SECONDS",
)


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def defaults(instance_path: str) -> dict[str, Any]:
    """The settings used when the environment says nothing."""
    return {
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'monitor.sqlite3'}",
        "HOME_COUNTRY": "NP",
        "SECRET_KEY": secrets.token_hex(32),
        "MAX_CONTENT_LENGTH": 200 * 1024 * 1024,
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are believed.
        "TRUSTED_PROXIES": 0,
        # Where the per-address rate limits count (Flask-Limiter storage URI):
        # `memory://` counts per process (fine for `make run`); give gunicorn's
        # workers one shared store, e.g. `redis://127.0.0.1:6379/0`.
        "RATE_LIMIT_STORAGE": "memory://",
        # `json`: log records as JSON lines (monitor.logs); `text`: plain lines.
        "LOG_FORMAT": "text",
        # /readyz answers 503 when no audit succeeded in this many hours (monitor.views.health).
        "READY_AUDIT_HOURS": 48,
        # The largest body of a request without a signed-in user (monitor.auth).
        "ANONYMOUS_MAX_CONTENT_LENGTH": 64 * 1024,
        "TIMEZONE": "UTC",
        "AUDIT_CRON": "0 2 * * *",
        # The scheduler recomputes the dossier's fee figures of the licences an import
        # touched this often (monitor.services.fee_summary.refresh_stale).
        "FEE_SUMMARY_SECONDS": 60,
        "OFFICIALS_URL": "",
        "DIGEST_WEBHOOK": "",
        # The decision log's Ed25519 signing key (PEM); empty: a key made on first
        # use in the instance folder (monitor.services.decision_log).
        "LOG_SIGNING_KEY": "",
        # A session ends after this long without a request, and this long after
        # sign-in whatever happens; sign-out ends every session of the user.
        "SESSION_IDLE_MINUTES": 30,
        "SESSION_ABSOLUTE_HOURS": 12,
        # This many failed sign-ins in a row lock the username for this long.
        "LOGIN_LOCKOUT_FAILURES": 5,
        "LOGIN_LOCKOUT_MINUTES": 15,
        # Case assignment (monitor.services.assignment): a reviewer who made one of an
        # agency's last N decisions is not drawn for it (0: no rotation); days to
        # decide a case by its highest open severity; the share of dismissals drawn
        # for a second look after each audit (0: none).
        "ROTATION_DECISIONS": 2,
        "DEADLINE_DAYS_HIGH": 14,
        "DEADLINE_DAYS_MEDIUM": 30,
        "DEADLINE_DAYS_LOW": 60,
        "SECOND_LOOK_SHARE": "0.05",
        # PostgreSQL parallel workers per query of the audit (jobs.audit): 0 keeps the
        # audit on one core, so the staff and the public keep the others.
        "AUDIT_PARALLEL_WORKERS": 0,
        # Audit thresholds (contract defaults).
        "FEE_CAP_TOLERANCE": "0.005",
        "UNDERDECLARED_RATIO": "0.10",
        "UNDERDECLARED_MIN_USD": "25",
        "OUTLIER_MIN_PLACEMENTS": 20,
        "OUTLIER_Z": "3.5",
        "DUPLICATE_WORKER_DAYS": 365,
        "NAME_SIMILARITY": 90,
        # Birth dates that confirm nothing (contract: "a placeholder"), comma-separated.
        "PLACEHOLDER_BIRTH_DATES": "1900-01-01,1970-01-01",
    }


def instance_path() -> str:
    """The instance folder: MONITOR_INSTANCE_PATH, or `instance/` beside the code."""
    return os.environ.get("MONITOR_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")


def from_environment(instance: str | None = None) -> Config:
    """The defaults, overridden by the `MONITOR_*` environment variables (each read as
    JSON when it parses, as Flask's `from_prefixed_env`), checked."""
    settings = Config(PROJECT_ROOT)
    settings.from_mapping(defaults(instance or instance_path()))
    settings.from_prefixed_env("MONITOR")
    check(settings)
    return settings


def fee_cap_tolerance(config: Mapping[str, Any]) -> Decimal:
    """FEE_CAP_TOLERANCE as a Decimal: what the dossier's and the fee summary's figures use."""
    return Decimal(str(config["FEE_CAP_TOLERANCE"]))


def placeholder_birth_dates(value: Any) -> tuple[dt.date, ...]:
    """`"1900-01-01, 1970-01-01"` (or a list of dates) as dates; empty means none.

    Raises ConfigError naming the setting when an item is not a `YYYY-MM-DD` date.
    """
    items = value.split(",") if isinstance(value, str) else list(value or ())
    dates = []
    for item in items:
        if isinstance(item, dt.date):
            dates.append(item)
            continue
        text = str(item).strip()
        if not text:
            continue
        try:
            dates.append(dt.date.fromisoformat(text))
        except ValueError:
            raise ConfigError(
                f"MONITOR_PLACEHOLDER_BIRTH_DATES must be YYYY-MM-DD dates separated by "
                f"commas, got {text!r}"
            ) from None
    return tuple(sorted(set(dates)))


def check(settings: Mapping[str, Any]) -> None:
    """Fail early, with one clear line, on a malformed setting."""
    home = str(settings.get("HOME_COUNTRY", ""))
    if len(home) != 2 or not home.isalpha() or not home.isupper():
        raise ConfigError(f"MONITOR_HOME_COUNTRY must be an ISO 3166-1 alpha-2 code, got {home!r}")
    for name in DECIMAL_THRESHOLDS:
        try:
            value = Decimal(str(settings[name]))
        except InvalidOperation:
            value = Decimal(-1)
        if not value.is_finite() or value < 0:
            raise ConfigError(
                f"MONITOR_{name} must be a non-negative number, got {settings[name]!r}"
            )
    for name in INTEGER_THRESHOLDS:
        if not str(settings[name]).strip().isdigit():
            raise ConfigError(f"MONITOR_{name} must be a whole number, got {settings[name]!r}")
    if settings["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(
            f"MONITOR_LOG_FORMAT must be text or json, got {settings['LOG_FORMAT']!r}"
        )
    for name in COUNT_SETTINGS:
        if not str(settings[name]).strip().isdigit():
            raise ConfigError(f"MONITOR_{name} must be a whole number, got {settings[name]!r}")
    for name in ACCOUNT_SETTINGS:
        text = str(settings[name]).strip()
        if not text.isdigit() or int(text) == 0:
            raise ConfigError(
                f"MONITOR_{name} must be a whole number above 0, got {settings[name]!r}"
            )
    try:
        share = float(str(settings["SECOND_LOOK_SHARE"]))
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise ConfigError(
            "MONITOR_SECOND_LOOK_SHARE must be a number from 0 to 1, "
            f"got {settings['SECOND_LOOK_SHARE']!r}"
        )
    placeholder_birth_dates(settings["PLACEHOLDER_BIRTH_DATES"])
    storage = str(settings["RATE_LIMIT_STORAGE"])
    if storage.split("://", 1)[0] not in RATE_LIMIT_SCHEMES or "://" not in storage:
        raise ConfigError(
            "MONITOR_RATE_LIMIT_STORAGE must be memory:// or a redis://host:port/db "
            f"URI, got {storage!r}"
        )
