"""Receiving a declaration upload (web form or REST API) for the import service.

The uploaded file is copied, in chunks, to a temporary file that keeps its
suffix (`.csv` or `.xlsx`), handed to
`monitor.services.declarations.import_declaration`, and deleted afterwards,
whatever the outcome. The partner country is always the uploader's own: it
comes from the account, never from the request.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePath

from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from monitor.models import User
from monitor.services.declarations import ImportReport, ImportRequestError, import_declaration

DECLARATION_KINDS = ("placements", "fees")
UPLOAD_SUFFIXES = (".csv", ".xlsx")
MAX_FILENAME = 300
# A batch id in a URL: ids are 32-bit integers in PostgreSQL, so a larger
# number is no batch (404 from routing, not an overflow in the database).
BATCH_ID_IN_URL = "<int(max=2147483647):batch_id>"


class UploadRefused(ValueError):
    """The upload cannot be handed to the import (wrong kind, suffix or account)."""


def upload_suffix(filename: str | None) -> str:
    """The lower-case suffix of an uploaded file's name, if it is one we read."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadRefused("the file must be a .csv or .xlsx file")
    return suffix


def import_upload(
    session: Session, upload: FileStorage, *, kind: str, user: User, home_country: str
) -> ImportReport:
    """Import one uploaded declaration for the partner regulator `user`."""
    if kind not in DECLARATION_KINDS:
        raise UploadRefused(f"kind must be one of {', '.join(DECLARATION_KINDS)}, not {kind!r}")
    if user.role != "partner" or not user.country:
        raise UploadRefused("only partner regulators upload declarations")
    suffix = upload_suffix(upload.filename)
    filename = PurePath(upload.filename or f"upload{suffix}").name[:MAX_FILENAME]
    with tempfile.TemporaryDirectory(prefix="monitor-upload-") as folder:
        path = Path(folder) / f"declaration{suffix}"
        upload.save(path)
        try:
            return import_declaration(
                session,
                kind=kind,  # type: ignore[arg-type]
                path=path,
                partner_country=user.country,
                home_country=home_country,
                uploader=user.username,
                filename=filename,
                uploaded_by_id=user.id,
            )
        except ImportRequestError as exc:
            raise UploadRefused(str(exc)) from None
