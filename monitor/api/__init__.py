"""The REST API, `/api/v1`: bearer tokens, problem+json errors, an OpenAPI 3 document.

Library: flask-smorest. It plugs into our plain `Flask` app factory with
`Api(app)` and builds the OpenAPI document (`/api/v1/openapi.json`) from the
code: the marshmallow schemas that also validate the requests, and the
decorators that declare each response. APIFlask was checked first (it is
already a dependency): its `APIBlueprint` validates on a plain `Flask` app,
but the OpenAPI document, the docs routes and the error handling live on the
`APIFlask` application class, so we would have to replace the app class the
whole web side uses. spectree would also work, but its request models are
pydantic while the project's other validation (Pandera, WTForms) is
declarative per field like marshmallow, and smorest's multipart upload
support (`location="files"`) is what `POST /batches` needs.

Two adjustments to flask-smorest, both small subclasses here:
- it installs an app-wide JSON handler for every HTTP error; we keep it off
  (`_register_error_handlers`) because `monitor.auth` already answers
  `/api/...` errors in problem+json and every other page in HTML, and its
  documented error responses say `application/problem+json`;
- webargs reads a multipart form's fields and its files from two separate
  locations, which the document would show as two request bodies; the
  `form_and_files` location reads both, so the upload is documented as one
  `multipart/form-data` body with `kind` and `file`.

The docs page (`/api/v1/docs`) is Swagger UI served from the
`swagger-ui-bundle` package's files: no CDN, and no inline script, so it
runs under the site's Content-Security-Policy.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import flask_smorest
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    render_template,
    send_from_directory,
    url_for,
)
from flask_smorest.utils import prepare_response
from marshmallow import Schema
from swagger_ui_bundle import swagger_ui_path
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from monitor.api.problems import PROBLEM_MIMETYPE
from monitor.api.schemas import ProblemSchema

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"


class MonitorApi(flask_smorest.Api):
    """flask-smorest's Api with problem+json errors (see the module docstring)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Errors are answered by `monitor.auth` (problem+json under /api)."""

    def _register_responses(self) -> None:
        """Document every error response as problem+json."""
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class MultipartParser(FlaskParser):
    """webargs' Flask parser plus `form_and_files`: a multipart body's fields and files."""

    __location_map__ = {**FlaskParser.__location_map__, "form_and_files": "load_form_and_files"}

    def load_form_and_files(self, req: Request, schema: Schema) -> MultiDictProxy:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class ApiBlueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint that understands the `form_and_files` location."""

    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "form_and_files": "multipart/form-data",
    }


docs_bp = Blueprint("api_docs", __name__, url_prefix=f"{API_PREFIX}/docs")


@docs_bp.get("")
def docs() -> str:
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))


# The package's files the docs page loads (and their source maps); its sample
# pages (`index.html`, `oauth2-redirect.html`, the Petstore initializer) are not served.
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui.css.map",
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "favicon-16x16.png",
        "favicon-32x32.png",
    }
)


@docs_bp.get("/assets/<path:filename>")
def docs_asset(filename: str) -> Response:
    if filename not in DOCS_ASSETS:
        abort(HTTPStatus.NOT_FOUND)
    return send_from_directory(str(swagger_ui_path), filename)


def init_app(app: Flask) -> None:
    """Register the API, its OpenAPI document and its docs page; exempt it from CSRF."""
    from monitor.api import public
    from monitor.api.batches import blp as batches_blp
    from monitor.api.cases import blp as cases_blp
    from monitor.api.flags import blp as flags_blp
    from monitor.auth import csrf

    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = MonitorApi(
        app,
        spec_kwargs={
            "title": "Recruitment Monitor API",
            "version": API_VERSION,
            "openapi_version": "3.0.3",
            "info": {
                "description": (
                    "Upload declarations and read their import reports; ministry staff read "
                    "the case queue (audit flags by agency), audit flags (with evidence) "
                    "and audit runs. Authenticate with "
                    "`Authorization: Bearer <token>` (`monitor users token create`). "
                    "Errors are RFC 9457 problem details (application/problem+json)."
                )
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(batches_blp)
    csrf.exempt(batches_blp)
    api.register_blueprint(cases_blp)
    csrf.exempt(cases_blp)
    api.register_blueprint(public.blp)
    public.init_app(app)
    api.register_blueprint(flags_blp)
    csrf.exempt(flags_blp)
    app.register_blueprint(docs_bp)
    app.extensions["monitor.api"] = api
