"""Marshmallow schemas of the REST API: they validate input and make the OpenAPI document."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload

from monitor.uploads import DECLARATION_KINDS
from validators.codes import countries


class UploadSchema(ma.Schema):
    """The multipart body of an upload."""

    kind = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(DECLARATION_KINDS),
        metadata={"description": "Which declaration template the file follows."},
    )
    file = Upload(
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
