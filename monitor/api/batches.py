"""`/api/v1/batches`: upload declarations and read batches, with a bearer token.

Scope: a partner regulator's token sees and writes only its own country's
batches (another country's batch id answers 404, as if it did not exist);
a ministry token (admin, reviewer, supervisor) reads every country's
batches but does not upload (403): declarations are the partner
regulator's statement.

`POST /api/v1/batches` answers 201 with the import report when the file made
a new batch, 200 with the same report when the same file had been sent
before (a replay: nothing new is stored), and 422 problem+json when the file
was refused as a whole, or its import failed unexpectedly (the problem
carries `batch_id` and the `report`; the traceback goes to the server log).

`GET /api/v1/batches/{id}/rejections` answers a page of the rejections, a
bare list as before, with flask-smorest's pagination: `?page=P&page_size=N`
(default 1000, at most 10000; over that is 422), and the `X-Pagination`
header says `total`, `total_pages`, `page`, `previous_page`, `next_page`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, abort, current_app, request
from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from marshmallow import RAISE

from monitor import db
from monitor.api import ApiBlueprint
from monitor.api.problems import problem
from monitor.api.schemas import (
    BatchListQuerySchema,
    BatchSchema,
    RejectionSchema,
    ReportSchema,
    UploadSchema,
)
from monitor.api.tokens import api_user, authenticate, problem_doc
from monitor.services import accounts, declarations
from monitor.uploads import BATCH_ID_IN_URL, UploadRefused, import_upload

blp = ApiBlueprint(
    "api_batches",
    __name__,
    url_prefix="/api/v1",
    description="Declaration batches of partner regulators.",
)

REJECTIONS_PAGE_SIZE = 1000
MAX_REJECTIONS_PAGE_SIZE = 10_000


def _problem_doc(status: HTTPStatus, description: str) -> Any:
    return problem_doc(blp, status, description)


def _partners_upload() -> Response | None:
    """403 for a ministry token's upload, before its body is read or validated."""
    if request.method == "POST" and accounts.is_ministry(api_user()):
        return problem(
            HTTPStatus.FORBIDDEN,
            "Ministry accounts do not upload declarations; partner regulators do.",
        )
    return None


blp.before_request(authenticate)
blp.before_request(_partners_upload)  # runs only once `authenticate` let the request in


def _not_found_detail(batch_id: int) -> str:
    return f"There is no batch {batch_id} that you may see."


def _not_found(batch_id: int) -> Response:
    return problem(HTTPStatus.NOT_FOUND, _not_found_detail(batch_id))


@blp.route("/batches")
class Batches(MethodView):
    @blp.arguments(BatchListQuerySchema, location="query", unknown=RAISE)
    @blp.response(HTTPStatus.OK, BatchSchema(many=True))
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    def get(self, query: dict[str, Any]) -> Any:
        """List the batches you may see, newest first."""
        scope = accounts.country_scope(api_user())
        country = scope or (query.get("country", "").upper() or None)
        return declarations.list_batches(db.session(), country, limit=query["limit"])

    @blp.arguments(UploadSchema, location="form_and_files")
    @blp.response(HTTPStatus.CREATED, ReportSchema, description="A new batch was made.")
    @blp.alt_response(
        HTTPStatus.OK,
        schema=ReportSchema,
        success=True,
        description="The same file was sent before: its batch, nothing new stored.",
    )
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.FORBIDDEN, "Only partner regulators upload declarations.")
    @_problem_doc(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "The file is over the size limit.")
    @_problem_doc(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "Invalid request, or the file was refused as a whole (with `batch_id` and `report`).",
    )
    def post(self, upload: dict[str, Any]) -> Any:
        """Upload a placements or fees declaration for your country."""
        user = api_user()  # a partner regulator's (`_partners_upload`)
        try:
            report = import_upload(
                db.session(),
                upload["file"],
                kind=upload["kind"],
                user=user,
                home_country=current_app.config["HOME_COUNTRY"],
            )
        except UploadRefused as exc:
            return problem(HTTPStatus.UNPROCESSABLE_ENTITY, f"The upload was refused: {exc}.")
        body = report.to_json()
        if report.status == "refused":
            # Also when the import failed unexpectedly: a report, never a 500.
            recorded = {} if report.batch_id is None else {"batch_id": report.batch_id}
            return problem(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"The file was refused; nothing of it was stored: {report.error}",
                title="File refused",
                report=body,
                **recorded,
            )
        return body, (HTTPStatus.OK if report.replayed else HTTPStatus.CREATED)


@blp.route(f"/batches/{BATCH_ID_IN_URL}")
class BatchDetail(MethodView):
    @blp.response(HTTPStatus.OK, BatchSchema)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, "No such batch, or not one of your country's.")
    def get(self, batch_id: int) -> Any:
        """One batch: who sent what, and what became of its rows."""
        scope = accounts.country_scope(api_user())
        batch = declarations.get_batch(db.session(), batch_id, scope)
        return _not_found(batch_id) if batch is None else batch


@blp.route(f"/batches/{BATCH_ID_IN_URL}/rejections")
class BatchRejections(MethodView):
    @blp.response(HTTPStatus.OK, RejectionSchema(many=True))
    @blp.paginate(page_size=REJECTIONS_PAGE_SIZE, max_page_size=MAX_REJECTIONS_PAGE_SIZE)
    @_problem_doc(HTTPStatus.UNAUTHORIZED, "No token, or an unknown or revoked one.")
    @_problem_doc(HTTPStatus.NOT_FOUND, "No such batch, or not one of your country's.")
    def get(self, batch_id: int, pagination_parameters: PaginationParameters) -> Any:
        """The rejected rows of a batch, by line (header = 1): line, column and reason.

        One page at a time (`page`, `page_size`); the `X-Pagination` header
        gives the total and the next page. The web page's CSV download has them all.
        """
        session = db.session()
        scope = accounts.country_scope(api_user())
        if declarations.get_batch(session, batch_id, scope) is None:
            # Raised, not returned: a paginated view may not return a Response.
            abort(HTTPStatus.NOT_FOUND, _not_found_detail(batch_id))
        total = declarations.count_batch_rejections(session, batch_id, scope)
        pagination_parameters.item_count = total
        if pagination_parameters.first_item >= total:
            # A page past the end is empty; its offset may not even fit the database.
            return []
        return declarations.batch_rejections(
            session,
            batch_id,
            scope,
            limit=pagination_parameters.page_size,
            offset=pagination_parameters.first_item,
        )
