"""Errors of the REST API as RFC 9457 problem details (`application/problem+json`).

Every error answer of `/api/...` has `type`, `title`, `status` and `detail`;
some add members of their own (`errors` for invalid input, the import
report's fields for a refused file).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"
# Our errors are the plain HTTP ones, so `type` stays RFC 9457's default.
DEFAULT_TYPE = "about:blank"


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response:
    """A problem+json response; `extra` adds extension members."""
    body = {
        "type": DEFAULT_TYPE,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    if status == HTTPStatus.UNAUTHORIZED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="monitor"'
    return response


def problem_from_exception(exc: HTTPException) -> Response:
    """Turn an HTTP error (from `abort`, routing, webargs, size limit) into a problem."""
    status = exc.code or 500
    extra: dict[str, Any] = {}
    # webargs (through flask-smorest) puts the messages per request location and
    # field in `data["messages"]`; clients need only the field names.
    data = getattr(exc, "data", None)
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        extra["errors"] = {
            field: field_messages
            for by_field in messages.values()
            for field, field_messages in by_field.items()
        }
    detail = exc.description or HTTPStatus(status).description
    if status == HTTPStatus.UNPROCESSABLE_ENTITY and messages:
        detail = "The request is invalid: see `errors` for each field."
    response = problem(status, detail, **extra)
    if status == HTTPStatus.METHOD_NOT_ALLOWED and hasattr(exc, "valid_methods"):
        response.headers["Allow"] = ", ".join(exc.valid_methods or [])
    return response
