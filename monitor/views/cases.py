"""The case queue (`/cases`): one row per agency with open flags, filtered by a GET
form (so a view is a shareable URL), sorted and paged; each row opens the agency's
dossier and shows the case's assignee and deadline (`monitor.services.assignment`).
Ministry staff only (partners get 404)."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from urllib.parse import quote

from flask import Blueprint, render_template, request

from monitor import db
from monitor.auth import staff_required
from monitor.models.audit import SEVERITIES
from monitor.services import cases as cases_service
from monitor.services.assignment import assignments_of

bp = Blueprint("cases", __name__, url_prefix="/cases")

PAGE_SIZE = 50


@bp.app_template_filter("path_segment")
def path_segment(value: str) -> str:
    """A value quoted as one URL path segment (a `/` in a licence number too)."""
    return quote(value, safe="")


@bp.get("")
@staff_required
def index() -> tuple[str, int]:
    session = db.session()
    sort = request.args.get("sort") or "risk"
    offset = max(request.args.get("offset", 0, type=int), 0)
    error = None
    page = None
    try:
        filters = cases_service.filters_from_args(request.args)
        page = cases_service.list_cases(
            session, filters, today=dt.date.today(), sort=sort, offset=offset, limit=PAGE_SIZE
        )
    except cases_service.CaseFilterError as exc:
        error = str(exc)
    rules = cases_service.flag_rules(session)
    wanted = (request.args.get("rule") or "").strip().upper()
    if wanted and wanted not in rules:  # keep the URL's rule selected, even without flags
        rules.append(wanted)
    return render_template(
        "cases/index.html",
        page=page,
        assigned=assignments_of(session, [case.licence_no for case in page.cases]) if page else {},
        error=error,
        args=request.args,
        sort=sort,
        rules=rules,
        severities=SEVERITIES,
        statuses=cases_service.STATUSES,
        sorts=cases_service.SORTS,
    ), (HTTPStatus.BAD_REQUEST if error else HTTPStatus.OK)
