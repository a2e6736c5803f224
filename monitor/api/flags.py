"""`/api/v1/flags` and `/api/v1/audit-runs`: the staff read API of flags and audit runs.

Ministry tokens only (admin, reviewer, supervisor); a partner regulator's
token gets 404, as the staff pages do. Flags come a page at a time
(`page`, `page_size`, default 100, at most 1000; the `X-Pagination` header
gives the total), by id, filtered by `rule`, `licence`, `status` and
`review_state` (`none`, `dismissal_proposed`, `dismissed`, `escalated`);
each carries its review state and its latest decision (or null);
`/flags/{id}` adds the evidence and the rule's definition. An unknown
query parameter is refused with 422. Audit runs come
newest first with their per-rule figures, notes and error. The work is
`monitor.services.flag_list` and `monitor.services.audit_history`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import abort
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from marshmallow import RAISE

from jobs.rules import rule_definitions
from monitor import db
from monitor.api import ApiBlueprint
from monitor.api.tokens import authenticate_staff, problem_doc
from monitor.models.audit import REVIEW_STATES
from monitor.services import audit_history, flag_list

blp = ApiBlueprint(
    "api_flags",
    __name__,
    url_prefix="/api/v1",
    description="Audit flags and audit runs (ministry staff).",
)

FLAGS_PAGE_SIZE = 100
MAX_FLAGS_PAGE_SIZE = 1000
RUNS_PAGE_SIZE = 20
MAX_RUNS_PAGE_SIZE = 200
PAGING_PARAMETERS = ("page", "page_size")


class PagedQuerySchema(ma.Schema):
    """Query parameters beside the paging ones (`page`, `page_size`, read by the paginator).

    Any other unknown parameter is refused (422), as everywhere in the API.
    """

    @ma.pre_load
    def _without_paging(self, data: Any, **_: Any) -> dict[str, Any]:
        return {key: data[key] for key in data if key not in PAGING_PARAMETERS}


class FlagQuerySchema(PagedQuerySchema):
    rule = ma.fields.String(metadata={"description": "Only this rule's flags (`FEE_OVER_CAP`)."})
    licence = ma.fields.String(metadata={"description": "Only this agency's flags (licence_no)."})
    status = ma.fields.String(metadata={"description": "Only flags in this status (`open`)."})
    review_state = ma.fields.String(
        validate=ma.validate.OneOf(REVIEW_STATES),
        metadata={"description": "Only flags in this review state (`dismissal_proposed`)."},
    )


class LatestDecisionSchema(ma.Schema):
    """The newest act of a reviewer or supervisor on the flag."""

    id = ma.fields.Integer(required=True)
    action = ma.fields.String(
        required=True,
        metadata={
            "description": "comment, propose_dismissal, approve, reject, dismiss or escalate."
        },
    )
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    reason = ma.fields.String(
        allow_none=True, metadata={"description": "A dismissal's reason (its approval's too)."}
    )
    decided_at = ma.fields.DateTime(required=True)


class FlagSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    rule = ma.fields.String(required=True)
    severity = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    licence_no = ma.fields.String(allow_none=True)
    partner_country = ma.fields.String(allow_none=True)
    subject = ma.fields.Dict(required=True)
    first_seen = ma.fields.Date(required=True)
    last_seen = ma.fields.Date(required=True)
    workers_affected = ma.fields.Integer(required=True)
    review_state = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(REVIEW_STATES),
        metadata={"description": "none, dismissal_proposed, dismissed or escalated."},
    )
    latest_decision = ma.fields.Nested(
        LatestDecisionSchema,
        required=True,
        allow_none=True,
        metadata={"description": "The newest decision on the flag; null when none was made."},
    )


class FlagDetailSchema(FlagSchema):
    definition = ma.fields.String(
        required=True, metadata={"description": "The rule in one sentence."}
    )
    evidence = ma.fields.Dict(required=True)
    first_run_id = ma.fields.Integer(allow_none=True)
    last_run_id = ma.fields.Integer(allow_none=True)
    cleared_at = ma.fields.DateTime(allow_none=True)


class RuleFiguresSchema(ma.Schema):
    code = ma.fields.String(required=True)
    severity = ma.fields.String(allow_none=True)
    examined = ma.fields.Integer(required=True)
    new = ma.fields.Integer(required=True)
    still_open = ma.fields.Integer(required=True)
    reopened = ma.fields.Integer(required=True)
    cleared = ma.fields.Integer(required=True)
    seconds = ma.fields.Float(required=True)
    error = ma.fields.String(allow_none=True)


class AuditRunSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    trigger = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    started_at = ma.fields.DateTime(required=True)
    finished_at = ma.fields.DateTime(allow_none=True)
    hostname = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    rules = ma.fields.List(ma.fields.Nested(RuleFiguresSchema), required=True)
    notes = ma.fields.Dict(required=True)


def _problem_doc(status: HTTPStatus, description: str) -> Any:
    return problem_doc(blp, status, description)


NOT_STAFF = "Ministry tokens only: a partner regulator's token gets 404."


blp.before_request(authenticate_staff)


@blp.route("/flags")
class Flags(MethodView):
    @blp.arguments(FlagQuerySchema, location="query", unknown=RAISE)
    @blp.response(HTTPStatus.OK, FlagSchema(many=True))
    @blp.paginate(page_size=FLAGS_PAGE_SIZE, max_page_size=MAX_FLAGS_PAGE_SIZE)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, NOT_STAFF)
    def get(self, query: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """The flags, by id, a page at a time; filter by rule, licence, status and review state."""
        session = db.session()
        filters = {
            "rule": query.get("rule"),
            "licence_no": query.get("licence"),
            "status": query.get("status"),
            "review_state": query.get("review_state"),
        }
        pagination_parameters.item_count = flag_list.count_flags(session, **filters)
        return flag_list.list_flags(
            session,
            **filters,
            limit=pagination_parameters.page_size,
            offset=pagination_parameters.first_item,
        )


@blp.route("/flags/<int:flag_id>")
class FlagDetail(MethodView):
    @blp.response(HTTPStatus.OK, FlagDetailSchema)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, f"No such flag. {NOT_STAFF}")
    def get(self, flag_id: int) -> Any:
        """One flag with its evidence and the rule's definition."""
        flag = flag_list.get_flag(db.session(), flag_id, definitions=rule_definitions())
        if flag is None:
            abort(HTTPStatus.NOT_FOUND, f"There is no flag {flag_id}.")
        return flag


@blp.route("/audit-runs")
class AuditRuns(MethodView):
    @blp.arguments(PagedQuerySchema, location="query", unknown=RAISE)
    @blp.response(HTTPStatus.OK, AuditRunSchema(many=True))
    @blp.paginate(page_size=RUNS_PAGE_SIZE, max_page_size=MAX_RUNS_PAGE_SIZE)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, NOT_STAFF)
    def get(self, _query: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """Audit runs, newest first, with per-rule figures, notes and error."""
        session = db.session()
        pagination_parameters.item_count = audit_history.count_audit_runs(session)
        return audit_history.audit_runs(
            session,
            limit=pagination_parameters.page_size,
            offset=pagination_parameters.first_item,
        )
