"""Import of partner-regulator declarations (placements, fees): the one service
behind `monitor import placements|fees`, the web upload form and the REST API.

Each upload is an `ImportBatch` (uploader, partner country, file name,
SHA-256, row counts, status, timings) with its `BatchRejection` rows. Every
row is stored, skipped as an exact duplicate of a row already held (same id,
same content), or rejected with its line, column and reason (bad value,
registry problem, id repeated in the file, same id held with different
content: nothing is ever overwritten). A stored row keeps its batch and
its line in the file (`batch_id`, `line`: header = 1), so a flag's
declaration rows can be found again in the file they came from.

Guarantees:

- All-or-nothing: the batch row, its rejections and its valid rows are
  written in ONE transaction, committed at the end. A process killed
  mid-import leaves nothing, and importing the file again completes it.
- A stored batch raises, in its own transaction, the fee version of every
  licence it touched (`monitor.services.fee_summary.raise_fee_versions`):
  from its commit those dossiers count their fees per view until the
  scheduler's `fee-summary` job has recomputed them.
- Re-sending a file (same partner, kind and SHA-256) returns the earlier
  batch's outcome (`replayed=True`) and stores nothing new.
- A refused file (encoding, separator, columns, no data rows, unreadable
  row) stores none of its rows; its refusal is recorded as a batch of its
  own (status `refused`, the reason in `error`) in a separate commit after
  the rollback, so the regulator sees it in their upload history.
- An unexpected error (a bug, a database failure) ends the same way: the
  import is rolled back, the traceback is logged at ERROR, and the report
  is a refusal whose `error` says the import failed unexpectedly (never a
  traceback to the caller). `KeyboardInterrupt` and `SystemExit` are not
  caught: they roll back and propagate. Such a failure is not the file's
  fault, so sending the same file again is not a replay: it is imported
  anew, in the failed attempt's batch.
- Streaming: the file is read in chunks of `CHUNK_ROWS`; each chunk is
  checked with vectorised Pandera checks, compared with the stored rows in
  one query (the chunk's ids passed as a single JSON array on SQLite or a
  single array on PostgreSQL), and bulk inserted (DB-API `executemany` on
  SQLite, `COPY` on PostgreSQL). Memory stays flat whatever the file size.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import hashlib
import io
import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import pandas as pd
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from monitor.csvsafe import csv_writer
from monitor.exit_codes import IMPORT_EXIT_CODES
from monitor.models import Agreement, BatchRejection, Fee, FxRate, ImportBatch, Placement
from monitor.models.base import utcnow
from monitor.services import fee_summary
from monitor.services.failures import UNEXPECTED_FAILURE, unexpected_failure_reason
from validators.codes import countries
from validators.common import FileRefused, RowError
from validators.declarations import (
    CHUNK_ROWS,
    COLUMNS,
    ID_COLUMN,
    MONEY_COLUMN,
    Kind,
    References,
    check_xlsx_inflation,
    error_frame,
    is_in,
    money_hundredths,
    open_declaration,
    reference_errors,
    row_errors,
    value_errors,
)

# Rejections listed in a report (bounded memory); every one is kept in the batch.
MAX_LISTED_REJECTIONS = 100_000
# Rejections fetched per round trip when streaming them all (CSV download):
# a server-side cursor on PostgreSQL, so memory stays flat however many.
REJECTIONS_FETCHED_PER_ROUND_TRIP = 5_000
# The streamed rejection CSV is handed on in pieces of about this many characters.
REJECTIONS_CSV_PIECE_CHARS = 64 * 1024
SQLITE_IMPORT_CACHE_KIB = 128 * 1024
TABLES: dict[str, sa.Table] = {
    "placements": Placement.__table__,  # type: ignore[dict-item]
    "fees": Fee.__table__,  # type: ignore[dict-item]
}
_HASH_BLOCK = 1 << 20
# What a line holding no row may consist of (counting a refused file's rows).
BLANK_CHARACTERS = " \t\r\n,;\ufeff"
log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What became of an upload; `to_json()` is the contract's `--json` object.

    `rejected` lists at most MAX_LISTED_REJECTIONS rejections (every one is
    kept with the batch: `batch_rejections()`); `rows_rejected` counts the
    rejected rows (a row may have several rejections).
    """

    batch_id: int | None
    status: Literal["stored", "partial", "refused"]
    rows: int = 0
    stored: int = 0
    skipped: int = 0
    rejected: list[RowError] = field(default_factory=list)
    rows_rejected: int = 0
    error: str | None = None
    replayed: bool = False

    @property
    def exit_code(self) -> int:
        """0 every row stored or skipped, 1 some rows rejected, 2 file refused."""
        return IMPORT_EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        """The contract's `--json` object, plus `batch_id` and `resent`.

        For a re-sent file (`replayed`) it says what this call did, not what
        the first sending did: nothing stored, every row skipped, no
        rejections (the earlier batch, `batch_id`, keeps its report); a
        re-sent refused file is refused again, with the same error.
        """
        resent = self.replayed and self.status != "refused"
        data: dict[str, Any] = {
            "status": "stored" if resent else self.status,
            "rows": self.rows,
            "stored": 0 if resent else self.stored,
            "skipped": self.rows if resent else self.skipped,
            "rejected": []
            if resent
            else [{"line": r.line, "column": r.column, "reason": r.reason} for r in self.rejected],
        }
        if self.status == "refused":
            data["error"] = self.error or ""
        data["batch_id"] = self.batch_id
        data["resent"] = self.replayed
        return data


class ImportRequestError(ValueError):
    """The request itself is wrong (unknown kind, bad partner country), not the file."""


# --------------------------------------------------------------------------- import


def import_declaration(
    session: Session,
    *,
    kind: Kind,
    path: Path,
    partner_country: str,
    home_country: str,
    uploader: str,
    filename: str | None = None,
    uploaded_by_id: int | None = None,
    today: dt.date | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Import one declaration file for `partner_country` and commit its batch.

    `today` (default: the current date) judges the plausibility of dates.
    Raises ImportRequestError for an unknown kind or a partner country that
    is not an ISO code other than the home country. Any other error ends in
    a `refused` report (see the module's docstring), never an exception.
    """
    if kind not in COLUMNS:
        raise ImportRequestError(f"unknown declaration kind {kind!r}: placements or fees")
    check_partner_country(partner_country, home_country)
    attempt = _Attempt(
        kind=kind,
        partner_country=partner_country,
        uploaded_by_id=uploaded_by_id,
        uploader=uploader[:200],
        filename=(filename or path.name)[:300],
        started_at=utcnow(),
    )
    try:
        attempt.sha256 = file_sha256(path)
        return _import_file(
            session, attempt, path, home_country, today or dt.date.today(), chunk_rows
        )
    except Exception as exc:  # anything unforeseen still ends in a report
        return _unexpected_failure(session, attempt, exc)


@dataclass
class _Attempt:
    """Who sent which file, when: what a batch row of this upload records."""

    kind: Kind
    partner_country: str
    uploaded_by_id: int | None
    uploader: str
    filename: str
    started_at: dt.datetime
    sha256: str = ""  # known once the file is read

    def fill(self, batch: ImportBatch, *, status: str, error: str | None = None) -> ImportBatch:
        """Set `batch` to this attempt, with no rows yet (a new or a failed attempt's row)."""
        batch.uploaded_by_id = self.uploaded_by_id
        batch.uploader = self.uploader
        batch.filename = self.filename
        batch.status = status
        batch.error = error
        batch.rows_total = batch.rows_stored = batch.rows_skipped = batch.rows_rejected = 0
        batch.started_at = self.started_at
        batch.finished_at = None if status == "stored" else utcnow()
        return batch

    def batch(self, session: Session) -> ImportBatch | None:
        """The batch already recorded for this file, if any."""
        return _batch_for_file(session, self.partner_country, self.kind, self.sha256)

    def new_batch(self) -> ImportBatch:
        return ImportBatch(kind=self.kind, partner_country=self.partner_country, sha256=self.sha256)


def _import_file(
    session: Session,
    attempt: _Attempt,
    path: Path,
    home_country: str,
    today: dt.date,
    chunk_rows: int,
) -> ImportReport:
    earlier = attempt.batch(session)
    if earlier is not None and not failed_unexpectedly(earlier):
        return _report_of(session, earlier, replayed=True)
    try:
        declaration = open_declaration(path, attempt.kind, attempt.filename)
        # A retry after an unexpected failure takes over that attempt's batch row.
        batch = attempt.fill(earlier or attempt.new_batch(), status="stored")
        session.add(batch)
        session.flush()
        report = _import_rows(session, batch, declaration.chunks(chunk_rows), home_country, today)
        session.commit()
        return report
    except FileRefused as exc:
        session.rollback()
        return _record_refusal(session, attempt, str(exc), rows=file_rows(path))
    except IntegrityError:
        # The same file was stored meanwhile by a concurrent upload: replay it.
        session.rollback()
        earlier = attempt.batch(session)
        if earlier is None or failed_unexpectedly(earlier):
            raise
        return _report_of(session, earlier, replayed=True)
    except BaseException:
        session.rollback()
        raise


def failed_unexpectedly(batch: ImportBatch) -> bool:
    """True for the batch of an import that failed unexpectedly (not the file's fault)."""
    return batch.status == "refused" and (batch.error or "").startswith(UNEXPECTED_FAILURE)


def _unexpected_failure(session: Session, attempt: _Attempt, exc: Exception) -> ImportReport:
    """Roll back, log the traceback, record the attempt as refused and report that.

    If the database cannot even record the refusal, the report says so without
    a batch (`batch_id` None); the log has both tracebacks.
    """
    log.error(
        "the import of %s file %r for %s by %s failed unexpectedly; nothing was stored",
        attempt.kind,
        attempt.filename,
        attempt.partner_country,
        attempt.uploader,
        exc_info=exc,
    )
    reason = unexpected_failure_reason(exc)
    try:
        session.rollback()
        if attempt.sha256:
            return _record_refusal(session, attempt, reason)
    except SQLAlchemyError:
        log.error("the failed import could not be recorded as a batch", exc_info=True)
        with contextlib.suppress(SQLAlchemyError):
            session.rollback()
    return ImportReport(batch_id=None, status="refused", error=reason)


def check_partner_country(partner_country: str, home_country: str) -> None:
    """Raise ImportRequestError unless `partner_country` can send declarations."""
    if partner_country not in countries():
        raise ImportRequestError(
            f"{partner_country!r} is not an ISO 3166-1 alpha-2 country code (like MY)"
        )
    if partner_country == home_country:
        raise ImportRequestError(
            f"{partner_country} is the home country: declarations come from partner countries"
        )


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def load_references(session: Session, home_country: str) -> References:
    """The registry facts a declaration is checked against (small tables)."""
    agreements = session.execute(
        sa.select(Agreement.agreement_id, Agreement.origin_country, Agreement.destination_country)
    ).all()
    partner_of: dict[str, str | None] = {}
    for agreement_id, origin, destination in agreements:
        if origin == home_country and destination != home_country:
            partner_of[agreement_id] = destination
        elif destination == home_country and origin != home_country:
            partner_of[agreement_id] = origin
        else:
            partner_of[agreement_id] = None
    fx_currencies = frozenset(session.scalars(sa.select(FxRate.currency).distinct()))
    return References(
        agreement_partner=partner_of, fx_currencies=fx_currencies, home_country=home_country
    )


def _import_rows(
    session: Session,
    batch: ImportBatch,
    chunks: Iterator[pd.DataFrame],
    home_country: str,
    today: dt.date,
) -> ImportReport:
    refs = load_references(session, home_country)
    connection = session.connection()
    kind: Kind = batch.kind  # type: ignore[assignment]
    report = ImportReport(batch_id=batch.id, status="stored")
    with _large_page_cache(connection):
        _import_chunks(connection, chunks, kind, batch, refs, today, report)
    if report.rows_rejected:
        report.status = "partial"
    batch.status = report.status
    batch.rows_total = report.rows
    batch.rows_stored = report.stored
    batch.rows_skipped = report.skipped
    batch.rows_rejected = report.rows_rejected
    batch.finished_at = utcnow()
    if report.stored:  # the dossier's fee figures of its licences are stale from its commit
        fee_summary.raise_fee_versions(connection, batch.id, kind)
    return report


@contextmanager
def _large_page_cache(connection: Connection) -> Iterator[None]:
    """On SQLite, a page cache of SQLITE_IMPORT_CACHE_KIB for the import (index pages
    of large tables stay in memory: inserts are about a quarter faster), then the
    connection's own size again."""
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql(f"PRAGMA cache_size = {-SQLITE_IMPORT_CACHE_KIB:d}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {previous:d}")


def _import_chunks(
    connection: Connection,
    chunks: Iterator[pd.DataFrame],
    kind: Kind,
    batch: ImportBatch,
    refs: References,
    today: dt.date,
    report: ImportReport,
) -> None:
    for frame in chunks:
        errors, stored, skipped = _import_chunk(connection, frame, kind, batch, refs, today)
        rejections = row_errors(errors, kind)
        if rejections:
            connection.execute(
                sa.insert(BatchRejection),
                [
                    {"batch_id": batch.id, "line": r.line, "column": r.column, "reason": r.reason}
                    for r in rejections
                ],
            )
        report.rows += len(frame)
        report.stored += stored
        report.skipped += skipped
        report.rows_rejected += errors["line"].nunique()
        report.rejected.extend(rejections[: MAX_LISTED_REJECTIONS - len(report.rejected)])


def _import_chunk(
    connection: Connection,
    frame: pd.DataFrame,
    kind: Kind,
    batch: ImportBatch,
    refs: References,
    today: dt.date,
) -> tuple[pd.DataFrame, int, int]:
    """Check and store one chunk; return its (line, column, reason) errors, stored, skipped."""
    partner = batch.partner_country
    id_column = ID_COLUMN[kind]
    errors = [value_errors(frame, kind, today)]
    valid = frame[~frame.index.isin(errors[0]["line"])]

    registry = reference_errors(valid, kind, partner, refs)
    errors.append(registry)
    valid = valid[~valid.index.isin(registry["line"])]

    repeated = valid[id_column].duplicated(keep="first")
    if repeated.any():
        errors.append(
            error_frame(
                valid.index[repeated],
                id_column,
                [
                    f"{id_column} {value!r} repeats an earlier line of this file"
                    for value in valid[id_column][repeated]
                ],
            )
        )
        valid = valid[~repeated]

    if kind == "fees" and len(valid):
        held = _held_placement_ids(connection, partner, valid["placement_id"].unique().tolist())
        orphan = ~is_in(valid["placement_id"], held)
        if orphan.any():
            errors.append(
                error_frame(
                    valid.index[orphan],
                    "placement_id",
                    [
                        f"no placement {value!r} is held for {partner}: "
                        "send the placements file first"
                        for value in valid["placement_id"][orphan]
                    ],
                )
            )
            valid = valid[~orphan]

    if valid.empty:
        return pd.concat(errors, ignore_index=True), 0, 0
    valid = valid.assign(**{MONEY_COLUMN[kind]: money_hundredths(valid[MONEY_COLUMN[kind]])})
    new_rows, held_errors, skipped = _compare_with_held(connection, valid, kind, batch)
    errors.append(held_errors)
    _bulk_insert(connection, kind, new_rows, partner, batch.id)
    return pd.concat(errors, ignore_index=True), len(new_rows), skipped


def _compare_with_held(
    connection: Connection, valid: pd.DataFrame, kind: Kind, batch: ImportBatch
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Split a chunk's valid rows into new rows, rejections and exact duplicates."""
    id_column = ID_COLUMN[kind]
    held = _held_rows(connection, kind, batch.partner_country, valid[id_column].tolist())
    if held.empty:
        return valid, error_frame(), 0
    matched = is_in(valid[id_column], held[id_column].tolist())
    pairs = (
        valid[matched]
        .rename_axis("line")
        .reset_index()
        .merge(held, on=id_column, how="left", suffixes=("", "_held"))
    )
    content = [column for column in COLUMNS[kind] if column != id_column]
    differs = pd.DataFrame(
        {
            column: (pairs[column].astype(str) != pairs[f"{column}_held"].astype(str)).to_numpy()
            for column in content
        }
    )
    same_batch = (pairs["batch_id"] == batch.id).to_numpy()
    conflict = differs.any(axis=1).to_numpy() & ~same_batch
    reasons = []
    lines = []
    for line, identifier, held_batch, is_repeat, row_differs in zip(
        pairs["line"].tolist(),
        pairs[id_column].tolist(),
        pairs["batch_id"].tolist(),
        same_batch.tolist(),
        differs.itertuples(index=False),
        strict=True,
    ):
        if is_repeat:
            reasons.append(f"{id_column} {identifier!r} repeats an earlier line of this file")
        elif any(row_differs):
            changed = ", ".join(c for c, d in zip(content, row_differs, strict=True) if d)
            source = f" (batch {held_batch})" if pd.notna(held_batch) else ""
            reasons.append(
                f"{id_column} {identifier!r} is already held{source} with a different "
                f"{changed}: nothing was overwritten"
            )
        else:
            continue
        lines.append(line)
    skipped = int((~conflict & ~same_batch).sum())
    return valid[~matched], error_frame(lines, id_column, reasons), skipped


def _ids_filter(connection: Connection, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column` is one of `values`, as one query parameter whatever their number."""
    if connection.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(sa.String)))
    if connection.dialect.name == "sqlite":
        ids = sa.func.json_each(sa.bindparam(None, json.dumps(values))).table_valued("value")
        return column.in_(sa.select(ids.c.value))
    return column.in_(values)


def _held_placement_ids(connection: Connection, partner: str, placement_ids: list[str]) -> set[str]:
    query = sa.select(Placement.placement_id).where(
        Placement.partner_country == partner,
        _ids_filter(connection, Placement.placement_id, placement_ids),
    )
    return set(connection.scalars(query))


def _held_rows(connection: Connection, kind: Kind, partner: str, ids: list[str]) -> pd.DataFrame:
    """The stored rows of `partner` with these ids, in the file's text form."""
    table = TABLES[kind]
    id_column = ID_COLUMN[kind]
    selected = []
    for name in COLUMNS[kind]:
        column = table.c[name]
        if isinstance(column.type, sa.Date):
            selected.append(sa.cast(column, sa.String).label(name))
        elif name == MONEY_COLUMN[kind]:
            selected.append(sa.type_coerce(column, sa.BigInteger).label(name))
        else:
            selected.append(column)
    query = sa.select(*selected, table.c.batch_id).where(
        table.c.partner_country == partner, _ids_filter(connection, table.c[id_column], ids)
    )
    rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=[*COLUMNS[kind], "batch_id"])


def _bulk_insert(
    connection: Connection, kind: Kind, rows: pd.DataFrame, partner: str, batch_id: int
) -> None:
    """Insert checked rows fast: COPY on PostgreSQL, DB-API executemany elsewhere."""
    if rows.empty:
        return
    table = TABLES[kind]
    names = ["partner_country", *COLUMNS[kind], "batch_id", "line"]
    values: dict[str, Sequence[Any]] = {name: rows[name].tolist() for name in COLUMNS[kind]}
    values["partner_country"] = itertools.repeat(partner)  # type: ignore[assignment]
    values["batch_id"] = itertools.repeat(batch_id)  # type: ignore[assignment]
    values["line"] = rows.index.tolist()  # declaration frames are indexed by line number
    if connection.dialect.name == "postgresql":
        copy_statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table.name), pgsql.SQL(", ").join(map(pgsql.Identifier, names))
        )
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(copy_statement) as copy:
            for row in zip(*(values[name] for name in names), strict=False):  # repeats are endless
                copy.write_row(row)
        return
    compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=names)
    order = compiled.positiontup or names
    rows_in_order = zip(*(values[name] for name in order), strict=False)  # repeats are endless
    connection.exec_driver_sql(str(compiled), list(rows_in_order))


# --------------------------------------------------------------------------- refusals, reports


def _record_refusal(
    session: Session, attempt: _Attempt, reason: str, *, rows: int = 0
) -> ImportReport:
    """Record a refused file as a batch with no rows stored (after the rollback), and report it.

    `rows` is how many rows the file had (`file_rows`), kept as the batch's
    `rows_total` so its report says what was refused.

    The row of an earlier attempt that failed unexpectedly is reused; a batch
    that a concurrent upload of the same file recorded meanwhile is replayed.
    """
    existing = attempt.batch(session)
    if existing is not None and not failed_unexpectedly(existing):
        return _report_of(session, existing, replayed=True)
    refused = attempt.fill(existing or attempt.new_batch(), status="refused", error=reason)
    refused.rows_total = rows
    session.add(refused)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        earlier = attempt.batch(session)
        if earlier is None:
            raise
        return _report_of(session, earlier, replayed=True)
    return ImportReport(batch_id=refused.id, status="refused", rows=rows, error=reason)


def file_rows(path: Path) -> int:
    """How many data rows a refused file has: its non-blank lines after the header.

    Counted on the bytes, so a file refused for its encoding or separator is
    counted too (a cell quoting a line break counts as two lines); a line of
    separators only (`,,,,`) is blank. A workbook: its first sheet's non-empty
    rows after the header. 0 for a file that is not text or cannot be read.
    """
    try:
        if path.suffix.lower() == ".xlsx":
            from openpyxl import load_workbook

            try:
                check_xlsx_inflation(path)
            except FileRefused:
                return 0  # a zip bomb: not worth unpacking to count
            workbook = load_workbook(path, read_only=True)
            try:
                sheet = workbook.worksheets[0]
                return max(sum(1 for row in sheet.iter_rows(values_only=True) if any(row)) - 1, 0)
            finally:
                workbook.close()
        with path.open("rb") as stream:
            start = stream.read(4096)
            stream.seek(0)
            if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                encoding = "utf-16"
            elif b"\0" in start:
                return 0  # not text: no rows to speak of
            else:
                encoding = "utf-8"
            lines = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
            return max(sum(1 for line in lines if line.strip(BLANK_CHARACTERS)) - 1, 0)
    except Exception as exc:  # noqa: BLE001 - a count for the report, never a second failure
        log.warning("could not count the rows of refused file %s: %s", path, exc)
        return 0


def _batch_for_file(session: Session, partner: str, kind: str, sha256: str) -> ImportBatch | None:
    return session.scalars(
        sa.select(ImportBatch).where(
            ImportBatch.partner_country == partner,
            ImportBatch.kind == kind,
            ImportBatch.sha256 == sha256,
        )
    ).one_or_none()


def _report_of(session: Session, batch: ImportBatch, *, replayed: bool) -> ImportReport:
    return ImportReport(
        batch_id=batch.id,
        status=batch.status,  # type: ignore[arg-type]
        rows=batch.rows_total,
        stored=batch.rows_stored,
        skipped=batch.rows_skipped,
        rejected=_rejections(session, batch.id, limit=MAX_LISTED_REJECTIONS),
        rows_rejected=batch.rows_rejected,
        error=batch.error,
        replayed=replayed,
    )


def _rejections_query(batch_id: int) -> sa.Select[tuple[int, str, str]]:
    return (
        sa.select(BatchRejection.line, BatchRejection.column, BatchRejection.reason)
        .where(BatchRejection.batch_id == batch_id)
        .order_by(BatchRejection.line, BatchRejection.id)
    )


def _rejections(
    session: Session, batch_id: int, limit: int | None = None, offset: int = 0
) -> list[RowError]:
    rows = session.execute(_rejections_query(batch_id).limit(limit).offset(offset or None)).all()
    return [RowError(line=line, column=column, reason=reason) for line, column, reason in rows]


def list_batches(
    session: Session, partner_country: str | None = None, *, limit: int | None = None
) -> list[ImportBatch]:
    """Upload history, newest first; `partner_country=None` (ministry) sees every country."""
    query = sa.select(ImportBatch).order_by(ImportBatch.started_at.desc(), ImportBatch.id.desc())
    if partner_country is not None:
        query = query.where(ImportBatch.partner_country == partner_country)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def get_batch(
    session: Session, batch_id: int, partner_country: str | None = None
) -> ImportBatch | None:
    """One batch, or None if absent or (for a partner) another country's."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None or (partner_country is not None and batch.partner_country != partner_country):
        return None
    return batch


def batch_rejections(
    session: Session,
    batch_id: int,
    partner_country: str | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[RowError]:
    """Rejections of a visible batch by line, then by id ([] if the batch is not visible).

    `offset` skips that many, `limit` keeps at most that many (None: all of
    them; stream those with `iter_batch_rejections` instead when there may be
    many).
    """
    if get_batch(session, batch_id, partner_country) is None:
        return []
    return _rejections(session, batch_id, limit=limit, offset=offset)


def count_batch_rejections(
    session: Session, batch_id: int, partner_country: str | None = None
) -> int:
    """How many rejections a visible batch has (0 if the batch is not visible).

    One `count(*)` on the batch's index. Not `ImportBatch.rows_rejected`: that
    counts rejected lines, and one line can be rejected for several columns.
    """
    if get_batch(session, batch_id, partner_country) is None:
        return 0
    return (
        session.scalar(sa.select(sa.func.count()).where(BatchRejection.batch_id == batch_id)) or 0
    )


def iter_batch_rejections(
    session: Session, batch_id: int, partner_country: str | None = None
) -> Iterator[RowError]:
    """Every rejection of a visible batch, by line, then by id, fetched in chunks.

    Nothing if the batch is not visible. Rows come `REJECTIONS_FETCHED_PER_ROUND_TRIP`
    at a time (a server-side cursor on PostgreSQL), so a batch with a million
    rejections does not sit in memory.
    """
    if get_batch(session, batch_id, partner_country) is None:
        return
    query = _rejections_query(batch_id).execution_options(
        yield_per=REJECTIONS_FETCHED_PER_ROUND_TRIP
    )
    for line, column, reason in session.execute(query):
        yield RowError(line=line, column=column, reason=reason)


def batch_report(
    session: Session, batch_id: int, partner_country: str | None = None
) -> ImportReport | None:
    """The report of a visible stored batch (as its import returned it), or None."""
    batch = get_batch(session, batch_id, partner_country)
    return None if batch is None else _report_of(session, batch, replayed=False)


def rejections_csv_pieces(rejections: Iterable[RowError]) -> Iterator[str]:
    """The rejection report as CSV (line, column, reason), formula-like cells escaped,
    in pieces of about `REJECTIONS_CSV_PIECE_CHARS`: a streamed download's body."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["line", "column", "reason"])
    for rejection in rejections:
        writer.writerow((rejection.line, rejection.column, rejection.reason))
        if buffer.tell() >= REJECTIONS_CSV_PIECE_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_rejections_csv(stream: TextIO, rejections: Iterable[RowError]) -> None:
    """Write the rejection report as CSV (see `rejections_csv_pieces`) to `stream`."""
    for piece in rejections_csv_pieces(rejections):
        stream.write(piece)
