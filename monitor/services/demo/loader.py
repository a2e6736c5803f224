"""Load a generated demo world into the database through the ordinary imports.

The registry goes through `registry_import.import_registry`, each partner
country's declarations through `declarations.import_declaration`
(placements before fees), exactly as ministry staff and partner
regulators would send them; then the demo accounts are created. A part
whose service is not installed is skipped and named in the summary.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.models import User
from monitor.services.demo import world

DEMO_PASSWORD = "demo-password"
# (username, role, country): ministry staff, and one regulator per partner country.
DEMO_ACCOUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("admin", "admin", None),
    ("reviewer", "reviewer", None),
    ("supervisor", "supervisor", None),
    *((f"partner-{c.country.lower()}", "partner", c.country) for c in world.CORRIDORS),
)


def _service(name: str, missing: list[str]) -> Any | None:
    """The service module `monitor.services.<name>`, or None (noted) when absent."""
    try:
        return importlib.import_module(f"monitor.services.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and not f"monitor.services.{name}".startswith(exc.name):
            raise
        missing.append(f"monitor.services.{name}")
        return None


def load(session: Session, directory: Path, *, home_country: str) -> dict[str, Any]:
    """Import the demo files under `directory` and create the demo accounts.

    Returns a summary: the registry report, one entry per declaration file
    (status, rows, stored, skipped, rejected, and `replayed` when that very
    file had been imported before, so nothing new was stored), the accounts
    created and the services that were missing.
    """
    if home_country != world.HOME_COUNTRY:
        raise ValueError(
            f"the demo world's home country is {world.HOME_COUNTRY}, not {home_country}: "
            f"set MONITOR_HOME_COUNTRY={world.HOME_COUNTRY} to load it"
        )
    directory = Path(directory)
    missing: list[str] = []
    summary: dict[str, Any] = {"registry": None, "declarations": {}, "accounts": []}

    registry_import = _service("registry_import", missing)
    if registry_import is not None:
        report = registry_import.import_registry(session, directory / "registry", changed_by="demo")
        summary["registry"] = report.to_json()

    declarations = _service("declarations", missing)
    if declarations is not None:
        for folder in sorted((directory / "declarations").iterdir()):
            if not folder.is_dir():
                continue
            for kind in ("placements", "fees"):
                path = folder / f"{kind}.csv"
                if not path.exists():
                    continue
                result = declarations.import_declaration(
                    session,
                    kind=kind,
                    path=path,
                    partner_country=folder.name,
                    home_country=home_country,
                    uploader="demo",
                )
                outcome = result.to_json()
                summary["declarations"][f"{folder.name}/{kind}.csv"] = {
                    "status": outcome["status"],
                    "rows": outcome["rows"],
                    "stored": outcome["stored"],
                    "skipped": outcome["skipped"],
                    "rejected": len(outcome["rejected"]),
                    "replayed": bool(getattr(result, "replayed", False)),
                }

    accounts = _service("accounts", missing)
    if accounts is not None:
        for username, role, country in DEMO_ACCOUNTS:
            exists = session.scalar(sa.select(User.id).where(User.username == username))
            if exists is None:
                accounts.create_user(
                    session,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    country=country,
                    actor="demo",
                )
                summary["accounts"].append(username)
    session.commit()
    summary["missing"] = missing
    return summary
