"""The upload templates on the web: `/templates` lists each template's columns
(from the validators, so the page cannot drift from what the import checks)
and offers the example files of `docs/examples/` for download.

Any signed-in user may open it: partner regulators preparing a declaration,
ministry staff preparing registry files.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory
from werkzeug.wrappers import Response

from monitor.auth import any_role_required

bp = Blueprint("file_templates", __name__, url_prefix="/templates")

EXAMPLES_DIR = Path(__file__).resolve().parent.parent.parent / "docs" / "examples"
GROUPS = {
    "declarations": "Declarations: sent by partner-country regulators (upload page or API)",
    "registry": "Registry: loaded by ministry staff (monitor import registry DIR)",
}


@dataclass(frozen=True)
class Template:
    """One file of the contract: its name, columns (required or not), and its example."""

    group: str
    filename: str
    columns: tuple[tuple[str, bool], ...]  # (name, required)

    @property
    def has_example(self) -> bool:
        return (EXAMPLES_DIR / self.group / self.filename).is_file()


def templates() -> list[Template]:
    """Every template of the contract, declarations first, registry files in load order."""
    from validators.declarations import COLUMNS
    from validators.registry import REGISTRY_TEMPLATES

    found = [
        Template("declarations", f"{kind}.csv", tuple((name, True) for name in columns))
        for kind, columns in COLUMNS.items()
    ]
    for template in REGISTRY_TEMPLATES:
        required = set(template.required_columns)
        found.append(
            Template(
                "registry",
                template.filename,
                tuple((name, name in required) for name in template.columns),
            )
        )
    return found


@bp.get("/")
@any_role_required
def index() -> str:
    return render_template("file_templates/index.html", templates=templates(), groups=GROUPS)


@bp.get("/<group>/<filename>")
@any_role_required
def example(group: str, filename: str) -> Response:
    known = {(t.group, t.filename) for t in templates() if t.has_example}
    if (group, filename) not in known:
        abort(HTTPStatus.NOT_FOUND)
    return send_from_directory(
        EXAMPLES_DIR / group,
        filename,
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"example-{filename}",
    )
