"""Marshmallow schemas of the REST API: they validate input and make the OpenAPI document."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from werkzeug.datastructures import FileStorage

from monitor.models.audit import SEVERITIES
from monitor.services.cases import SORTS as CASE_SORTS
from monitor.services.cases import STATUSES as CASE_STATUSES
from monitor.uploads import DECLARATION_KINDS
from validators.codes import countries


class UploadedFile(Upload):
    """A multipart file part; a plain form field of the same name is a 422, not a 500."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> FileStorage:
        if not isinstance(value, FileStorage):
            raise ma.ValidationError(
                "must be a file part of a multipart/form-data body (with a filename), "
                "not a plain form field"
            )
        return value


class UploadSchema(ma.Schema):
    """The multipart body of an upload."""

    kind = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(DECLARATION_KINDS),
        metadata={"description": "Which declaration template the file follows."},
    )
    file = UploadedFile(
        required=True,
        metadata={"description": "The declaration: CSV (UTF-8, comma-separated) or .xlsx."},
    )


class RejectionSchema(ma.Schema):
    line = ma.fields.Integer(
        required=True, metadata={"description": "Line in the file; the header is line 1."}
    )
    column = ma.fields.String(required=True)
    reason = ma.fields.String(required=True)


class ReportSchema(ma.Schema):
    """The contract's `--json` import report, plus its batch and whether it was re-sent."""

    batch_id = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "The batch recorded (a re-sent file: the earlier batch)."},
    )
    resent = ma.fields.Boolean(
        metadata={
            "description": (
                "The same file was sent before: nothing was stored by this call, "
                "`stored` is 0 and every row is `skipped`; the earlier batch keeps its report."
            )
        },
    )
    status = ma.fields.String(
        required=True, validate=ma.validate.OneOf(("stored", "partial", "refused"))
    )
    rows = ma.fields.Integer(required=True)
    stored = ma.fields.Integer(required=True)
    skipped = ma.fields.Integer(required=True)
    rejected = ma.fields.List(ma.fields.Nested(RejectionSchema), required=True)
    error = ma.fields.String(metadata={"description": "Only when the file was refused."})


class BatchSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    partner_country = ma.fields.String(required=True)
    filename = ma.fields.String(required=True)
    uploader = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    rows = ma.fields.Integer(attribute="rows_total", required=True)
    stored = ma.fields.Integer(attribute="rows_stored", required=True)
    skipped = ma.fields.Integer(attribute="rows_skipped", required=True)
    rejected = ma.fields.Integer(attribute="rows_rejected", required=True)
    error = ma.fields.String(allow_none=True)
    started_at = ma.fields.DateTime(required=True)
    finished_at = ma.fields.DateTime(allow_none=True)


def _known_country(value: str) -> None:
    """Refuse a code that is no ISO 3166-1 alpha-2 country, in words."""
    if value.upper() not in countries():
        raise ma.ValidationError(
            f"{value!r} is not a country code: use the two-letter ISO 3166-1 code, such as MY."
        )


class BatchListQuerySchema(ma.Schema):
    country = ma.fields.String(
        validate=[ma.validate.Length(equal=2), _known_country],
        metadata={"description": "Ministry tokens: only this partner country's batches."},
    )
    limit = ma.fields.Integer(
        load_default=100,
        validate=ma.validate.Range(min=1, max=1000),
        metadata={"description": "At most this many batches, newest first."},
    )


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(metadata={"description": "Invalid input: the messages per field."})
    batch_id = ma.fields.Integer(metadata={"description": "A refused file: its batch."})
    report = ma.fields.Nested(
        lambda: ReportSchema(), metadata={"description": "A refused file: the import report."}
    )


class CaseQuerySchema(ma.Schema):
    """The case queue's filters and sort (`monitor.services.cases`)."""

    rule = ma.fields.String(
        metadata={"description": "Only flags of this rule (e.g. FEE_OVER_CAP)."}
    )
    severity = ma.fields.String(
        validate=ma.validate.OneOf(SEVERITIES),
        metadata={"description": "Only flags of this severity."},
    )
    status = ma.fields.String(
        load_default="open",
        validate=ma.validate.OneOf(CASE_STATUSES),
        metadata={"description": "Flags of this status; `all` for every status."},
    )
    country = ma.fields.String(
        validate=ma.validate.Length(equal=2),
        metadata={"description": "Only flags about this partner country (ISO 3166-1 alpha-2)."},
    )
    agency = ma.fields.String(
        validate=ma.validate.Length(max=300),
        metadata={"description": "Licence number or agency name, case-insensitive, partial."},
    )
    first_seen_from = ma.fields.Date(metadata={"description": "Flags first seen on or after."})
    first_seen_to = ma.fields.Date(metadata={"description": "Flags first seen on or before."})
    sort = ma.fields.String(
        load_default="risk",
        validate=ma.validate.OneOf(CASE_SORTS),
        metadata={"description": "risk (default), newest, oldest or workers (most first)."},
    )


class CaseSchema(ma.Schema):
    """One agency's flags under review."""

    licence_no = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "None: flags without a licence."}
    )
    agency_name = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "None: not in the registry."}
    )
    risk_score = ma.fields.Float(required=True)
    flags = ma.fields.Integer(required=True)
    by_severity = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    by_rule = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    workers_affected = ma.fields.Integer(
        required=True,
        metadata={"description": "Sum of the flags' workers affected (an upper bound)."},
    )
    oldest_first_seen = ma.fields.Date(required=True)
    newest_first_seen = ma.fields.Date(required=True)
    partner_countries = ma.fields.List(ma.fields.String(), required=True)
    review_states = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        required=True,
        metadata={
            "description": (
                "The case's flags (as the filters select them) by review state: "
                "none, dismissal_proposed, dismissed, escalated."
            )
        },
    )
    latest_decision = ma.fields.Nested(
        lambda: CaseDecisionSchema(),
        required=True,
        allow_none=True,
        metadata={"description": "The newest decision on any flag of the agency, or null."},
    )


class CaseDecisionSchema(ma.Schema):
    """The newest decision on a flag of the case."""

    flag_id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    username = ma.fields.String(required=True)
    decided_at = ma.fields.DateTime(required=True)
