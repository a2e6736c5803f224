"""`GET /api/v1/public/licences?q=...`: the public licence check as JSON, no token.

The same answer as the `/check` page (`monitor.services.public_check`):
for each agency found by licence number or name, its name, address,
licence status today, corridors authorised today and suspensions and
revocations of the last five years. Rate-limited per client like the page;
over the limit: 429 problem+json with `Retry-After`.
"""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Flask
from flask.views import MethodView
from flask_limiter.errors import RateLimitExceeded
from marshmallow import RAISE

from monitor import db
from monitor.api import ApiBlueprint
from monitor.api.problems import PROBLEM_MIMETYPE, problem
from monitor.api.schemas import ProblemSchema
from monitor.services.public_check import MAX_QUERY_LENGTH, CheckResult, check_licences
from monitor.views.public import name_index_cache, public_rate_limit, retry_after

blp = ApiBlueprint(
    "api_public",
    __name__,
    url_prefix="/api/v1/public",
    description="The public licence check: no token needed.",
)


class LicenceQuerySchema(ma.Schema):
    q = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_QUERY_LENGTH),
        metadata={
            "description": (
                "A licence number (case, spaces and punctuation ignored) or words of the "
                "agency's name (any script, accents and case ignored; partial words; one "
                "typing mistake tolerated)."
            )
        },
    )


class StatusSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        attribute="status",
        validate=ma.validate.OneOf(("active", "suspended", "expired", "revoked", "not_licensed")),
    )
    since = ma.fields.Date(
        allow_none=True,
        metadata={
            "description": "Active, suspended: since; expired: expiry date; revoked: the date."
        },
    )
    until = ma.fields.Date(
        allow_none=True,
        metadata={"description": "Active: the expiry date; suspended: the reinstatement date."},
    )
    summary = ma.fields.String(required=True, metadata={"description": "The status in words."})
    explanation = ma.fields.String(required=True)


class CorridorSchema(ma.Schema):
    agreement_id = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    origin_country = ma.fields.String(required=True)
    destination_country = ma.fields.String(required=True)
    destination_name = ma.fields.String(required=True)
    valid_to = ma.fields.Date(allow_none=True, metadata={"description": "None: no end date."})


class SanctionSchema(ma.Schema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf(("suspended", "revoked", "cancelled"))
    )
    start = ma.fields.Date(required=True)
    end = ma.fields.Date(
        allow_none=True, metadata={"description": "A suspension: the day it was lifted."}
    )
    summary = ma.fields.String(required=True)


class PublicLicenceSchema(ma.Schema):
    licence_no = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    address = ma.fields.String(allow_none=True)
    status = ma.fields.Nested(StatusSchema, attribute="today", required=True)
    corridors = ma.fields.List(
        ma.fields.Nested(CorridorSchema),
        required=True,
        metadata={"description": "The agreements it is authorised to recruit for today."},
    )
    sanctions = ma.fields.List(
        ma.fields.Nested(SanctionSchema),
        required=True,
        metadata={"description": "Suspensions and revocations of the last five years."},
    )
    matched_by = ma.fields.String(
        required=True, validate=ma.validate.OneOf(("licence number", "name", "similar name"))
    )


class CheckResultSchema(ma.Schema):
    query = ma.fields.String(required=True)
    on = ma.fields.Date(required=True, metadata={"description": "The day the status is for."})
    licences = ma.fields.List(ma.fields.Nested(PublicLicenceSchema), required=True)
    more = ma.fields.Boolean(
        required=True, metadata={"description": "More agencies matched than are listed."}
    )
    too_short = ma.fields.Boolean(
        required=True, metadata={"description": "The query had too few letters to search."}
    )


@blp.route("/licences")
class PublicLicences(MethodView):
    @blp.doc(security=[])
    @blp.arguments(LicenceQuerySchema, location="query", unknown=RAISE)
    @blp.response(HTTPStatus.OK, CheckResultSchema)
    @blp.alt_response(
        HTTPStatus.TOO_MANY_REQUESTS,
        schema=ProblemSchema,
        content_type=PROBLEM_MIMETYPE,
        description="Too many checks from this client; wait `Retry-After` seconds.",
        headers={"Retry-After": {"schema": {"type": "integer"}}},
    )
    def get(self, query: dict[str, Any]) -> CheckResult:
        """Check an agency's licence by licence number or name (no token needed)."""
        return check_licences(db.session(), query["q"], name_index_cache(), today=dt.date.today())


@blp.errorhandler(HTTPStatus.TOO_MANY_REQUESTS)
def _too_many(exc: RateLimitExceeded) -> Any:
    wait = retry_after(exc)
    response = problem(
        HTTPStatus.TOO_MANY_REQUESTS,
        f"Too many checks from your address in a short time; try again in {wait} seconds.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


def init_app(app: Flask) -> None:
    """Limit the endpoint per client, as the page is (after `monitor.auth` made the limiter)."""
    limiter = app.extensions["monitor.limiter"]
    endpoint = f"{blp.name}.PublicLicences"
    app.view_functions[endpoint] = limiter.limit(
        public_rate_limit,
        scope="public-api",
        error_message="Too many checks from your address in a short time.",
    )(app.view_functions[endpoint])
