"""`/api/v1/cases`: the case queue for ministry staff tokens.

The same cases as the web queue (`monitor.services.cases.list_cases`): one per
agency, filtered and sorted by the query string, a page at a time with
flask-smorest's pagination (`?page=P&page_size=N`, default 50, at most 200;
the `X-Pagination` header gives the total), each with its flags by review
state and its newest decision (`monitor.services.cases.case_review_states`).
A partner regulator's token gets
404, as for every staff page; an unknown country code is 422 and says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from http import HTTPStatus
from typing import Any

from flask import abort
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from marshmallow import EXCLUDE

from monitor import db
from monitor.api import ApiBlueprint
from monitor.api.schemas import CaseQuerySchema, CaseSchema
from monitor.api.tokens import authenticate_staff, problem_doc
from monitor.services.cases import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CaseFilterError,
    CaseFilters,
    case_review_states,
    list_cases,
)

blp = ApiBlueprint(
    "api_cases",
    __name__,
    url_prefix="/api/v1",
    description="The case queue: audit flags grouped by agency (ministry staff).",
)


def _problem_doc(status: HTTPStatus, description: str) -> Any:
    return problem_doc(blp, status, description)


blp.before_request(authenticate_staff)


@blp.route("/cases")
class Cases(MethodView):
    @blp.arguments(CaseQuerySchema, location="query", unknown=EXCLUDE)
    @blp.response(HTTPStatus.OK, CaseSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, "A partner regulator's token: staff only.")
    @_problem_doc(HTTPStatus.UNPROCESSABLE_ENTITY, "Invalid filters (an unknown country code).")
    def get(self, query: dict[str, Any], pagination_parameters: PaginationParameters) -> Any:
        """The cases: open flags grouped by agency, highest risk first.

        Filter by `rule`, `severity`, `status`, `country`, `agency` (licence
        number or name) and the first-seen range; sort by `risk`, `newest`,
        `oldest` or `workers`. Every sort ends on the licence number, so pages
        are stable.
        """
        filters = CaseFilters(
            rule=query.get("rule"),
            severity=query.get("severity"),
            status=query["status"],
            partner_country=query.get("country"),
            agency=query.get("agency"),
            first_seen_from=query.get("first_seen_from"),
            first_seen_to=query.get("first_seen_to"),
        )
        session = db.session()
        try:
            page = list_cases(
                session,
                filters,
                today=dt.date.today(),
                sort=query["sort"],
                offset=pagination_parameters.first_item,
                limit=pagination_parameters.page_size,
            )
        except CaseFilterError as exc:
            # Raised, not returned: a paginated view may not return a Response.
            abort(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        pagination_parameters.item_count = page.total
        reviews = case_review_states(session, page)
        return [{**asdict(case), **asdict(reviews[case.licence_no])} for case in page.cases]
