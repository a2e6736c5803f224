"""Bearer-token authentication of the REST API, shared by its blueprints.

`authenticate` (any token) and `authenticate_staff` (ministry tokens; a
partner regulator's token gets 404, as if the resource did not exist) are
`before_request` hooks: they answer 401 as a problem, or put the token's
user in `g.api_user` for the view (`api_user()`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, g, request
from flask_smorest import Blueprint

from monitor import db
from monitor.api.problems import PROBLEM_MIMETYPE, problem
from monitor.models import User
from monitor.services import accounts

BEARER_PREFIX = "bearer "


def authenticate() -> Response | None:
    """401 unless the request carries a known, unrevoked token of an active account."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER_PREFIX):
        return problem(
            HTTPStatus.UNAUTHORIZED, "Send an API token as `Authorization: Bearer <token>`."
        )
    user = accounts.user_for_token(db.session(), header[len(BEARER_PREFIX) :].strip())
    if user is None:
        return problem(HTTPStatus.UNAUTHORIZED, "The API token is unknown or has been revoked.")
    g.api_user = user
    return None


def authenticate_staff() -> Response | None:
    """`authenticate`, then 404 for a partner regulator's token (staff resources)."""
    refused = authenticate()
    if refused is not None:
        return refused
    if not accounts.is_ministry(g.api_user):
        return problem(HTTPStatus.NOT_FOUND, "The requested URL was not found on the server.")
    return None


def api_user() -> User:
    """The user of the request's token (after `authenticate`)."""
    return g.api_user


def problem_doc(blp: Blueprint, status: HTTPStatus, description: str) -> Any:
    """Document a problem+json answer of an endpoint in the OpenAPI file."""
    from monitor.api.schemas import ProblemSchema

    return blp.alt_response(
        status, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description=description
    )
