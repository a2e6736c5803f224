"""Keeping one rule's flags: its findings are staged, then merged in one short write.

The audit engine (`jobs.audit`) calls this for each rule, on the run's own
connection, in two steps:

1. `FlagStore.stage(findings)`, inside the rule's snapshot transaction
   (`monitor.db.snapshot_transaction`): the findings go into the
   connection's TEMPORARY table `tmp_audit_findings` (DB-API `executemany` on
   SQLite, `COPY` on PostgreSQL). Writing a temporary table takes no lock
   on the database, so the rule's reading never becomes a writer.
2. `FlagStore.merge(...)`, in one `monitor.db.write_transaction` (SQLite:
   `BEGIN IMMEDIATE`): a few set-based statements turn the staged findings
   into flags and commit together, so a rule's flags change all at once
   or not at all:

   - figures: how many staged keys are already flags, and how many of
     those are `cleared` (they reopen);
   - `UPDATE flags ... FROM tmp_audit_findings`: a known flag found again gets
     last_seen = today and its evidence, workers affected, licence_no and
     partner country refreshed (and the rule's severity, should it have
     changed); a `cleared` one is reopened (status `open`, cleared_at
     emptied, first_seen kept). The review state
     (`monitor.services.decisions`) is kept, except that a `dismissed` flag,
     or one whose dismissal is proposed, whose evidence is no longer the
     evidence the decision judged (the staged `evidence_hash`, the SHA-256
     of the canonical evidence, differs from `reviewed_evidence_hash`)
     reopens: review state `none`, `review_reopened_at` = now, the judged
     evidence kept in `reviewed_evidence` for the flag page's "what
     changed". Found again with the same evidence, it stays dismissed;
   - `INSERT INTO flags ... SELECT` the keys that are not flags yet
     (status `open`, first_seen = last_seen = today);
   - `UPDATE` the rule's `open` flags that this run did not find to
     `cleared` (cleared_at = now), whatever their review state (which is
     kept: a cleared flag found again later is judged as above).

   On PostgreSQL a merge that loses a deadlock to another writer is
   rolled back and tried again (the staged findings are still there).

Evidence and subjects are stored as canonical JSON (sorted keys, no
spaces), so the same evidence is the same text on both databases.
Staging also stores each finding's `evidence_hash` (SHA-256 of that
text, about 0.5 s of one core per million findings), so the merge compares
dismissals with their evidence in SQL, alike on both databases.
A finding whose key repeats within one rule run counts once (the first is
kept).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from jobs.rules.base import Finding
from monitor import db
from monitor.canonical import canonical_json
from monitor.models import Flag
from monitor.models.base import JSONType, utcnow

log = logging.getLogger(__name__)

flags = Flag.__table__
STAGE_CHUNK_ROWS = 50_000
MERGE_ATTEMPTS = 5

staged = sa.Table(
    "tmp_audit_findings",
    sa.MetaData(),
    sa.Column("flag_key", sa.String(600), nullable=False),
    sa.Column("licence_no", sa.String(64)),
    sa.Column("partner_country", sa.String(2)),
    sa.Column("subject", JSONType, nullable=False),
    sa.Column("subject_key", sa.String(400), nullable=False),
    sa.Column("evidence", JSONType, nullable=False),
    sa.Column("workers_affected", sa.Integer, nullable=False),
    sa.Column("evidence_hash", sa.String(64), nullable=False),
    prefixes=["TEMPORARY"],
)
STAGED_COLUMNS = tuple(column.name for column in staged.columns)


def subject_key(rule: str, finding: Finding, key: str) -> str:
    """The subject as canonical JSON (sorted keys, no spaces): the export's sort key.

    It is the tail of `Finding.key`, cut after `Finding.key_prefix` so a `|`
    inside a licence number cannot confuse it, which saves serialising every
    subject twice (tests hold it to `json.dumps`).
    """
    return key[len(finding.key_prefix(rule)) :]


@dataclass
class MergeCounts:
    """What one merge did: `new` flags, known flags `still_open`, `reopened`, `cleared`,
    and `dismissals_reopened` (dismissals whose evidence changed)."""

    new: int = 0
    still_open: int = 0
    reopened: int = 0
    cleared: int = 0
    dismissals_reopened: int = 0


class FlagStore:
    """The staging table of one run connection and the merge into `flags`.

    A context manager: the staging table is made on entry and dropped on
    exit (a pooled connection would otherwise keep it for the next run).
    `connection` must not be in a transaction at either end.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __enter__(self) -> FlagStore:
        with self.connection.begin():
            self.connection.execute(sa.schema.DropTable(staged, if_exists=True))
            staged.create(self.connection)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()
        with self.connection.begin():
            self.connection.execute(sa.schema.DropTable(staged, if_exists=True))

    # -- staging (inside the rule's snapshot transaction) ------------------

    def stage(self, rule: str, findings: Iterable[Finding]) -> int:
        """Replace the staged findings with these (repeated keys once); returns how many."""
        self.connection.execute(staged.delete())
        count = 0
        for chunk in _chunks(_staged_rows(rule, findings), STAGE_CHUNK_ROWS):
            db.copy_rows(self.connection, staged, STAGED_COLUMNS, chunk)
            count += len(chunk)
        self.connection.execute(sa.text("ANALYZE tmp_audit_findings"))
        return count

    # -- merging (one write transaction) -----------------------------------

    def merge(
        self, *, rule: str, severity: str, run_id: int, today: dt.date, staged_count: int
    ) -> MergeCounts:
        """Turn the staged findings into the rule's flags, in one write transaction."""
        for attempt in range(1, MERGE_ATTEMPTS + 1):
            try:
                with db.write_transaction(self.connection):
                    return self._merge(rule, severity, run_id, today, staged_count)
            except sa.exc.OperationalError as exc:
                if not _lost_a_deadlock(exc) or attempt == MERGE_ATTEMPTS:
                    raise
                log.warning("%s: flags merge lost a deadlock, trying again", rule)
        raise AssertionError("unreachable")

    def _merge(
        self, rule: str, severity: str, run_id: int, today: dt.date, staged_count: int
    ) -> MergeCounts:
        connection = self.connection
        known = staged.join(flags, flags.c.flag_key == staged.c.flag_key)
        matched, reopened = connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(
                    sa.func.sum(sa.case((flags.c.status == "cleared", 1), else_=0)), 0
                ),
            ).select_from(known)
        ).one()
        found_again = flags.c.flag_key == staged.c.flag_key
        dismissals_reopened = connection.execute(
            sa.update(flags)
            .where(
                found_again,
                flags.c.review_state.in_(("dismissed", "dismissal_proposed")),
                flags.c.reviewed_evidence_hash.is_distinct_from(staged.c.evidence_hash),
            )
            .values(review_state="none", review_reopened_at=utcnow())
        ).rowcount
        # Only what changes is written, so the indexes on status, agency and
        # severity are rewritten only for the flags where those change.
        connection.execute(
            sa.update(flags)
            .where(found_again)
            .values(
                evidence=staged.c.evidence,
                last_seen=today,
                last_run_id=run_id,
                workers_affected=staged.c.workers_affected,
            )
        )
        connection.execute(
            sa.update(flags)
            .where(found_again, flags.c.status == "cleared")
            .values(status="open", cleared_at=None)
        )
        connection.execute(
            sa.update(flags)
            .where(
                found_again,
                sa.or_(
                    flags.c.licence_no.is_distinct_from(staged.c.licence_no),
                    flags.c.partner_country.is_distinct_from(staged.c.partner_country),
                ),
            )
            .values(licence_no=staged.c.licence_no, partner_country=staged.c.partner_country)
        )
        connection.execute(
            sa.update(flags)
            .where(flags.c.rule == rule, flags.c.severity != severity)
            .values(severity=severity)
        )
        new_columns = {
            "flag_key": staged.c.flag_key,
            "rule": sa.literal(rule, flags.c.rule.type),
            "licence_no": staged.c.licence_no,
            "partner_country": staged.c.partner_country,
            "subject": staged.c.subject,
            "subject_key": staged.c.subject_key,
            "severity": sa.literal(severity, flags.c.severity.type),
            "evidence": staged.c.evidence,
            "status": sa.literal("open", flags.c.status.type),
            "first_seen": sa.literal(today, flags.c.first_seen.type),
            "last_seen": sa.literal(today, flags.c.last_seen.type),
            "first_run_id": sa.literal(run_id, flags.c.first_run_id.type),
            "last_run_id": sa.literal(run_id, flags.c.last_run_id.type),
            "workers_affected": staged.c.workers_affected,
        }
        connection.execute(
            sa.insert(flags).from_select(
                list(new_columns),
                sa.select(*new_columns.values()).where(
                    ~sa.exists().where(flags.c.flag_key == staged.c.flag_key)
                ),
            )
        )
        cleared = connection.execute(
            sa.update(flags)
            .where(
                flags.c.rule == rule,
                flags.c.status == "open",
                sa.or_(flags.c.last_run_id.is_(None), flags.c.last_run_id != run_id),
            )
            .values(status="cleared", cleared_at=utcnow())
        ).rowcount
        return MergeCounts(
            new=staged_count - int(matched),
            still_open=int(matched) - int(reopened),
            reopened=int(reopened),
            cleared=int(cleared),
            dismissals_reopened=int(dismissals_reopened),
        )


def _staged_rows(rule: str, findings: Iterable[Finding]) -> Iterator[tuple[Any, ...]]:
    """Findings as staging rows in `STAGED_COLUMNS` order, each key once (the first)."""
    seen: set[str] = set()
    for finding in findings:
        key = finding.key(rule)
        if key in seen:
            continue
        seen.add(key)
        subject = subject_key(rule, finding, key)
        evidence = canonical_json(finding.evidence)
        yield (
            key,
            finding.licence_no,
            finding.partner_country,
            subject,
            subject,
            evidence,
            finding.workers_affected,
            hashlib.sha256(evidence.encode()).hexdigest(),
        )


def _chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lost_a_deadlock(exc: sa.exc.OperationalError) -> bool:
    """PostgreSQL chose this transaction to break a deadlock (SQLSTATE 40P01)."""
    return getattr(exc.orig, "sqlstate", None) == "40P01"
