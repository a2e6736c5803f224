"""Importing the ministry's registry files (contract: "Registry files").

`import_registry(session, directory, changed_by=...)` reads every contract
registry file found in `directory`, in dependency order (agencies and
agreements before what refers to them), and:

1. reads it (`validators.common`) and validates it with its Pandera schema
   (`validators.registry`);
2. checks its references against the registry as stored plus the files of
   this directory that passed: licence numbers, agreement ids, and no
   licence event after a revocation or cancellation (counting events
   already stored);
3. stores every file that passed, all in one transaction, and commits.

A file with any error is stored not at all (status `refused`); the others
are still stored. Rows are matched to stored rows by their natural key: a
new key is inserted, a changed row updated, an equal row left alone, so
importing the same directory twice changes nothing. Rows absent from a
file are kept (files may be partial; the import never deletes).

Validation is the only gate: what the schemas and the forbidden-character
check (`validators.common.frame_errors`) accept, the conversions and both
databases accept. An unexpected error (a bug, a database failure) still
ends in a report (`monitor.services.failures`): everything is rolled back,
the traceback is logged at ERROR, and the report's `error` says the import
failed unexpectedly (exit code 2). `KeyboardInterrupt` and `SystemExit`
roll back and propagate.

Every insert and update is written to `RegistryChange` (who, when, old and
new values, source file) as a hash chain (`monitor.services.registry`:
`ChangeLog`, `verify_change_chain`), so a rewritten or deleted entry shows.

An import that inserted or updated anything also appends one entry to the
decision log (`monitor.services.decision_log`, action `registry.change`,
subject `registry`), in the same transaction: the counts per file and the
registry change chain's hash before and after the import. That pair of
hashes pins every change row of the import (each row's hash covers its
predecessor's), so one entry per import is as binding as one per change,
and a 300,000-row import adds one small entry rather than 300,000.

The work is set-based: each table's stored rows are loaded once into a
dict by natural key, compared in memory, and written with bulk Core
inserts/updates, so 300,000 officials import in seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.models import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    FeeRule,
    FxRate,
    LicenceEvent,
    Official,
)
from monitor.models.base import Base, Money, Rate, utcnow
from monitor.services import decision_log
from monitor.services.failures import unexpected_failure_reason
from monitor.services.registry import BATCH_ROWS, ChangeLog, json_value, row_key
from validators.common import (
    MAX_ROW_ERRORS,
    FileRefused,
    RowError,
    frame_errors,
    read_csv_checked,
    to_dates,
    to_decimals,
    to_ints,
    to_texts,
)
from validators.registry import REGISTRY_TEMPLATES, RegistryTemplate

FileStatus = Literal["stored", "unchanged", "refused"]
TERMINAL_EVENTS = frozenset({"revoked", "cancelled"})
log = logging.getLogger(__name__)

MODELS: dict[str, type[Base]] = {
    "agencies.csv": Agency,
    "agreements.csv": Agreement,
    "licence_events.csv": LicenceEvent,
    "agency_people.csv": AgencyPerson,
    "fee_rules.csv": FeeRule,
    "authorisations.csv": Authorisation,
    "officials.csv": Official,
    "fx_rates.csv": FxRate,
}

# References a file's rows make: (column, file whose key it names, what the key is).
REFERENCES: dict[str, list[tuple[str, str, str]]] = {
    "licence_events.csv": [("licence_no", "agencies.csv", "licence")],
    "agency_people.csv": [("licence_no", "agencies.csv", "licence")],
    "fee_rules.csv": [("agreement_id", "agreements.csv", "agreement")],
    "authorisations.csv": [
        ("licence_no", "agencies.csv", "licence"),
        ("agreement_id", "agreements.csv", "agreement"),
    ],
}


@dataclass
class FileReport:
    """What became of one registry file."""

    file: str
    status: FileStatus
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RowError] = field(default_factory=list)
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 stored or unchanged, 1 refused for row errors, 2 refused as a whole."""
        if self.status != "refused":
            return 0
        return 1 if self.rejected else 2

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [error.to_json() for error in self.rejected],
            "error": self.error,
        }


@dataclass
class RegistryImportReport:
    """The outcome of one `import_registry` call, file by file."""

    directory: str
    files: list[FileReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when no file was refused and no row rejected."""
        return self.error is None and all(report.status != "refused" for report in self.files)

    @property
    def exit_code(self) -> int:
        """The contract's import exit code: 0 ok, 1 rows rejected, 2 a file refused."""
        if self.error is not None:
            return 2
        return max((report.exit_code for report in self.files), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": self.directory,
            "ok": self.ok,
            "files": [report.to_json() for report in self.files],
            "ignored": self.ignored,
            "error": self.error,
        }


# --- converting validated frames ---------------------------------------------


def _converter(column: sa.Column) -> Callable[[pd.Series], list[Any]]:
    column_type = column.type
    if isinstance(column_type, Money | Rate):
        return to_decimals
    if isinstance(column_type, sa.Date):
        return to_dates
    if isinstance(column_type, sa.Integer):
        return to_ints
    return to_texts


@dataclass
class _Rows:
    """A validated file, column-converted once: typed rows, their keys and JSON forms."""

    columns: list[str]
    values: list[tuple[Any, ...]]  # typed, in `columns` order
    key_positions: list[int]  # where the natural key's columns are in `columns`
    keys: list[tuple[Any, ...]]  # the natural key of each row, typed
    json_values: list[tuple[Any, ...]]  # the same values as JSON scalars
    lines: list[int]


def _typed_rows(template: RegistryTemplate, frame: pd.DataFrame) -> _Rows:
    table = MODELS[template.filename].__table__
    columns = list(template.columns)
    typed = [_converter(table.c[name])(frame[name]) for name in columns]
    if template.filename == "licence_events.csv":
        # File order within one licence and date: 0, 1, 2 ... (what `seq` keeps).
        columns.append("seq")
        typed.append(frame.groupby(["licence_no", "effective_date"]).cumcount().tolist())
    as_json = [
        column
        if isinstance(table.c[name].type, sa.String)
        # validated dates are already ISO text
        else to_texts(frame[name])
        if isinstance(table.c[name].type, sa.Date)
        else [json_value(value) for value in column]
        for name, column in zip(columns, typed, strict=True)
    ]
    key_positions = [columns.index(name) for name in template.key]
    return _Rows(
        columns=columns,
        key_positions=key_positions,
        values=list(zip(*typed, strict=True)),
        keys=list(zip(*(typed[position] for position in key_positions), strict=True)),
        json_values=list(zip(*as_json, strict=True)),
        lines=[int(index) + 2 for index in frame.index],
    )


# --- checks against the stored registry ---------------------------------------


def _stored_keys(session: Session, filename: str) -> set[str]:
    model = MODELS[filename]
    column = "licence_no" if filename == "agencies.csv" else "agreement_id"
    return set(session.scalars(sa.select(getattr(model, column))))


def _reference_errors(
    frame: pd.DataFrame, column: str, known: set[str], noun: str, refused_source: str | None
) -> list[RowError]:
    values = frame[column]
    unknown = values.notna() & ~values.isin(known)
    hint = f" ({refused_source} was refused)" if refused_source else ""
    return [
        RowError(int(index) + 2, column, f"{noun} {value!r} is not in the registry{hint}")
        for index, value in values[unknown].head(MAX_ROW_ERRORS).items()
    ]


@dataclass(frozen=True)
class _Event:
    date: dt.date
    from_file: bool
    seq: int
    event: str
    line: int | None


def _events_after_revocation(session: Session, rows: _Rows) -> list[RowError]:
    """Events that would follow a revocation or cancellation of their licence.

    Stored and incoming events are merged (an incoming row replaces the
    stored row with the same key) and replayed in date order, same date in
    file order, stored-only events of a date first.
    """
    position = {
        name: rows.columns.index(name) for name in ("licence_no", "effective_date", "event", "seq")
    }
    incoming: dict[str, dict[tuple[dt.date, str], _Event]] = defaultdict(dict)
    for row, line in zip(rows.values, rows.lines, strict=True):
        licence, date, event = (row[position[n]] for n in ("licence_no", "effective_date", "event"))
        incoming[licence][(date, event)] = _Event(date, True, row[position["seq"]], event, line)
    stored = session.execute(
        sa.select(
            LicenceEvent.licence_no,
            LicenceEvent.effective_date,
            LicenceEvent.event,
            LicenceEvent.seq,
        )
    )
    merged: dict[str, dict[tuple[dt.date, str], _Event]] = defaultdict(dict)
    for licence, date, event, seq in stored:
        if licence in incoming:
            merged[licence][(date, event)] = _Event(date, False, seq, event, None)
    errors: list[RowError] = []
    for licence, events in incoming.items():
        timeline = {**merged[licence], **events}
        ordered = sorted(timeline.values(), key=lambda e: (e.date, e.from_file, e.seq))
        terminal = next((e for e in ordered if e.event in TERMINAL_EVENTS), None)
        if terminal is None:
            continue
        later = ordered[ordered.index(terminal) + 1 :]
        for event in later:
            if event.from_file:
                errors.append(
                    RowError(
                        event.line or 0,
                        "event",
                        f"licence {licence!r} was {terminal.event} on {terminal.date}: "
                        "no event may follow a revocation or cancellation",
                    )
                )
        stored_later = [event for event in later if not event.from_file]
        if terminal.from_file and stored_later:
            first = stored_later[0]
            errors.append(
                RowError(
                    terminal.line or 0,
                    "event",
                    f"the registry already holds a later event for licence {licence!r} "
                    f"({first.event} on {first.date}): no event may follow a "
                    f"{terminal.event} event",
                )
            )
    return sorted(errors)


# --- storing -------------------------------------------------------------------


def _batches(items: list[Any], size: int = 0) -> Iterator[list[Any]]:
    size = size or BATCH_ROWS
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store_file(
    session: Session, filename: str, rows: _Rows, *, source_file: str, log: ChangeLog
) -> tuple[int, int, int]:
    """Insert new keys, update changed rows, log both: (inserted, updated, unchanged)."""
    table = MODELS[filename].__table__
    columns = rows.columns
    key_positions = rows.key_positions
    stored: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for stored_row in session.execute(sa.select(table.c.id, *(table.c[name] for name in columns))):
        values = tuple(stored_row[1:])
        stored[tuple(values[position] for position in key_positions)] = (stored_row[0], values)
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[int, tuple[Any, ...]]] = []
    unchanged = 0
    for row, key, json_row in zip(rows.values, rows.keys, rows.json_values, strict=True):
        found = stored.get(key)
        if found is None:
            inserts.append(row)
            log.add(
                table_name=table.name,
                source_file=source_file,
                action="insert",
                row_key=row_key(key),
                old_values=None,
                new_values=dict(zip(columns, json_row, strict=True)),
            )
            continue
        row_id, old = found
        if old == row:
            unchanged += 1
            continue
        changed = [i for i, (was, now) in enumerate(zip(old, row, strict=True)) if was != now]
        updates.append((row_id, row))
        log.add(
            table_name=table.name,
            source_file=source_file,
            action="update",
            row_key=row_key(key),
            old_values={columns[i]: json_value(old[i]) for i in changed},
            new_values={columns[i]: json_row[i] for i in changed},
        )
    log.flush()
    for batch in _batches(inserts):
        session.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in columns})
    )
    for batch in _batches(updates):
        parameters = [
            {"row_id": row_id, **{f"new_{n}": v for n, v in zip(columns, row, strict=True)}}
            for row_id, row in batch
        ]
        session.execute(update, parameters, execution_options={"synchronize_session": False})
    return len(inserts), len(updates), unchanged


# --- the import ------------------------------------------------------------------


def _validate(
    template: RegistryTemplate, path: Path, report: FileReport
) -> tuple[pd.DataFrame | None, list[RowError], int]:
    """Read and schema-check one file: the frame (None if unreadable), errors, total."""
    try:
        frame = read_csv_checked(path, template.columns, template.required_columns)
    except FileRefused as exc:
        report.status, report.error = "refused", exc.reason
        return None, [], 0
    report.rows = len(frame)
    errors, total = frame_errors(template.schema, frame)
    return frame, errors, total


def _refuse_for_rows(report: FileReport, total: int) -> None:
    listed = len(report.rejected)
    shown = "" if total <= listed else f" (the first {listed} are listed)"
    report.status = "refused"
    report.error = (
        f"{total} error{'s' if total != 1 else ''} in its rows{shown}: "
        "nothing of this file was stored"
    )


def _registry_files(directory: Path) -> Iterator[tuple[RegistryTemplate, Path]]:
    for template in REGISTRY_TEMPLATES:
        path = directory / template.filename
        if path.is_file():
            yield template, path


def import_registry(session: Session, directory: Path, *, changed_by: str) -> RegistryImportReport:
    """Validate the registry files in `directory`, store the valid ones, commit.

    Never raises for a problem of the files or an unexpected error: the
    report says what happened (see the module's docstring).
    """
    directory = Path(directory)
    try:
        return _import_directory(session, directory, changed_by=changed_by)
    except Exception as exc:  # anything unforeseen still ends in a report
        log.error(
            "the registry import of %s by %s failed unexpectedly; nothing was stored",
            directory,
            changed_by,
            exc_info=exc,
        )
        with contextlib.suppress(SQLAlchemyError):
            session.rollback()
        return RegistryImportReport(directory=str(directory), error=unexpected_failure_reason(exc))


def _import_directory(
    session: Session, directory: Path, *, changed_by: str
) -> RegistryImportReport:
    report = RegistryImportReport(directory=str(directory))
    if not directory.is_dir():
        report.error = f"{directory} is not a directory"
        return report
    known_names = {template.filename for template in REGISTRY_TEMPLATES}
    report.ignored = sorted(
        path.name for path in directory.iterdir() if path.is_file() and path.name not in known_names
    )
    files = list(_registry_files(directory))
    if not files:
        report.error = (
            f"no registry files in {directory}: expected any of {', '.join(sorted(known_names))}"
        )
        return report

    keys: dict[str, set[str]] = {}  # agencies.csv / agreements.csv -> known keys
    refused_sources: set[str] = set()
    accepted: list[tuple[RegistryTemplate, Path, _Rows, FileReport]] = []
    for template, path in files:
        file_report = FileReport(file=template.filename, status="stored")
        report.files.append(file_report)
        frame, errors, total = _validate(template, path, file_report)
        if frame is None:
            refused_sources.add(template.filename)
            continue
        for column, source, noun in REFERENCES.get(template.filename, []):
            if source not in keys:
                keys[source] = _stored_keys(session, source)
            refused = source if source in refused_sources else None
            found = _reference_errors(frame, column, keys[source], noun, refused)
            errors, total = errors + found, total + len(found)
        rows = None
        if not errors:
            rows = _typed_rows(template, frame)
            if template.filename == "licence_events.csv":
                errors = _events_after_revocation(session, rows)
                total = len(errors)
        if errors:
            file_report.rejected = sorted(set(errors))[:MAX_ROW_ERRORS]
            _refuse_for_rows(file_report, total)
            refused_sources.add(template.filename)
            continue
        if template.filename in ("agencies.csv", "agreements.csv"):
            if template.filename not in keys:
                keys[template.filename] = _stored_keys(session, template.filename)
            keys[template.filename].update(frame[template.key[0]].tolist())
        accepted.append((template, path, rows, file_report))

    change_log = ChangeLog(session, changed_by=changed_by, changed_at=utcnow())
    try:
        if accepted:
            change_log.start()
        for template, path, rows, file_report in accepted:
            inserted, updated, unchanged = _store_file(
                session, template.filename, rows, source_file=str(path)[-300:], log=change_log
            )
            file_report.inserted, file_report.updated = inserted, updated
            file_report.unchanged = unchanged
            if not (inserted or updated):
                file_report.status = "unchanged"
        _log_decision(session, report, change_log, directory)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report


def _log_decision(
    session: Session, report: RegistryImportReport, change_log: ChangeLog, directory: Path
) -> None:
    """One decision log entry for an import that changed the registry (none otherwise)."""
    changed = [f for f in report.files if f.status == "stored" and (f.inserted or f.updated)]
    if not changed:
        return
    decision_log.append(
        session,
        change_log.changed_by,
        "registry.change",
        "registry",
        {
            "directory": str(directory)[-300:],
            "files": [
                {"file": f.file, "inserted": f.inserted, "updated": f.updated} for f in changed
            ],
            "changes": sum(f.inserted + f.updated for f in changed),
            "changes_from_hash": change_log.start_hash,
            "changes_head_hash": change_log.head_hash,
        },
    )
