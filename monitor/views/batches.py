"""Declaration batches on the web: upload, import report, rejected rows as CSV, history.

Who sees what:
- a partner regulator uploads placements or fees for their own country (the
  country comes from the account) and sees only that country's batches;
  another country's batch id answers 404, as if it did not exist;
- ministry staff (admin, reviewer, supervisor) see every country's batches
  and may filter by country. They do not upload declarations: a declaration
  is the partner regulator's statement, and the upload records who made it.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy.orm import Session
from wtforms import SelectChoice, SelectField

from monitor import db
from monitor.auth import any_role_required, current_scope, partner_required
from monitor.services import declarations
from monitor.uploads import BATCH_ID_IN_URL, DECLARATION_KINDS, UploadRefused, import_upload
from validators.codes import countries

bp = Blueprint("batches", __name__, url_prefix="/batches")

REJECTIONS_PER_PAGE = 1000
BATCHES_SHOWN = 500
# A byte-order mark so that Excel reads the downloaded CSV as UTF-8, not the
# local code page (reasons can quote names with accents).
EXCEL_UTF8_MARK = "\ufeff"


class UploadForm(FlaskForm):
    kind = SelectField(
        "Declaration",
        choices=[SelectChoice(kind, kind.capitalize()) for kind in DECLARATION_KINDS],
    )
    file = FileField(
        "File (CSV or Excel .xlsx)",
        validators=[
            FileRequired("Choose a file to upload."),
            FileAllowed(["csv", "xlsx"], "The file must be a .csv or .xlsx file."),
        ],
    )


@bp.get("/")
@any_role_required
def index() -> str | tuple[str, int]:
    scope = current_scope()
    country_filter = scope or (request.args.get("country", "").strip().upper() or None)
    if country_filter is not None and country_filter not in countries():
        # Say so rather than show an empty list as if no batch had come from there.
        return render_template(
            "batches/index.html",
            batches=[],
            scope=scope,
            country_filter=country_filter,
            country_error=(
                f"“{country_filter}” is not a country code: use the two-letter ISO 3166-1 "
                "code, such as MY for Malaysia or QA for Qatar."
            ),
        ), HTTPStatus.BAD_REQUEST
    batches = declarations.list_batches(db.session(), country_filter, limit=BATCHES_SHOWN)
    return render_template(
        "batches/index.html", batches=batches, scope=scope, country_filter=country_filter
    )


@bp.route("/upload", methods=["GET", "POST"])
@partner_required
def upload() -> str | Response | tuple[str, int]:
    form = UploadForm()
    if form.validate_on_submit():
        try:
            report = import_upload(
                db.session(),
                form.file.data,
                kind=form.kind.data,
                user=current_user,
                home_country=current_app.config["HOME_COUNTRY"],
            )
        except UploadRefused as exc:
            form.file.errors.append(str(exc))
        else:
            if report.batch_id is None:  # the database could not even record the failure
                form.file.errors.append(f"The file was refused: {report.error}")
            else:
                # Every outcome, a refusal too, is recorded as a batch: show its report.
                if report.replayed:
                    flash("This file was uploaded before: nothing new was stored.")
                return redirect(
                    url_for("batches.show", batch_id=report.batch_id), HTTPStatus.SEE_OTHER
                )
    status = HTTPStatus.OK if request.method == "GET" else HTTPStatus.UNPROCESSABLE_ENTITY
    return render_template("batches/upload.html", form=form), status


@bp.get(f"/{BATCH_ID_IN_URL}")
@any_role_required
def show(batch_id: int) -> str:
    session = db.session()
    batch = declarations.get_batch(session, batch_id, current_scope())
    if batch is None:
        abort(HTTPStatus.NOT_FOUND)
    total = declarations.count_batch_rejections(session, batch_id, current_scope())
    last_page = max(1, -(-total // REJECTIONS_PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), last_page)
    first = (page - 1) * REJECTIONS_PER_PAGE
    rejections = declarations.batch_rejections(
        session, batch_id, current_scope(), limit=REJECTIONS_PER_PAGE, offset=first
    )
    return render_template(
        "batches/show.html",
        batch=batch,
        rejections=rejections,
        total_rejections=total,
        first_shown=first + 1,
        last_shown=first + len(rejections),
        page=page,
        last_page=last_page,
    )


@bp.get(f"/{BATCH_ID_IN_URL}/rejections.csv")
@any_role_required
def rejections_csv(batch_id: int) -> Response:
    session = db.session()
    scope = current_scope()
    batch = declarations.get_batch(session, batch_id, scope)
    if batch is None:
        abort(HTTPStatus.NOT_FOUND)
    filename = f"batch-{batch_id}-rejections.csv"
    return Response(
        _streamed_rejections_csv(db.session_factory()(), batch_id, scope),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _streamed_rejections_csv(
    stream_session: Session, batch_id: int, scope: str | None
) -> Iterator[str]:
    """The CSV body, read and written in chunks however many rejections there are.

    Its own session, closed when the download ends or is cut off: the
    request's session is closed as soon as the view returns.
    """
    with stream_session:
        yield EXCEL_UTF8_MARK
        yield from declarations.rejections_csv_pieces(
            declarations.iter_batch_rejections(stream_session, batch_id, scope)
        )
