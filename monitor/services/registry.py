"""The registry's shared bookkeeping, and changes the monitor itself makes to it.

**The change history.** Every insert and update of a registry row is an
entry of `registry_changes` (who, when, old and new values, source), in a
hash chain: `entry_hash` = SHA-256 of the previous entry's hash followed
by the canonical JSON of the entry, so a rewritten or deleted entry shows
(`verify_change_chain`). `ChangeLog` writes entries (the registry import,
`monitor.services.registry_import`, writes one per row it stores, in
batches; `record_licence_event` one).

**Licence events the monitor writes.** `record_licence_event` is the one
way the monitor itself changes the registry (an approved sanction,
`monitor.services.sanctions`): it inserts the `LicenceEvent`, its
`registry_changes` entry (table `licence_events`, action `insert`, the
row's values as an import of `licence_events.csv` would log them) and a
decision log entry (`registry.licence_event`, subject the licence number,
with the change chain's hash before and after), all in the caller's
transaction. It keeps the import's rules: the event is one of the
contract's types, no event may follow a revocation or cancellation, a
revocation or cancellation may not precede events already recorded, and
(licence, date, event) is unique. The event comes after the events already
recorded on its date (`seq`). Licence events are never deleted or
rewritten: an earlier end of a suspension is a new `reinstated` event on
the earlier date (status replays events in date order, so the later,
original one then changes nothing).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Sequence
from decimal import Decimal
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from monitor.models import Agency, LicenceEvent, RegistryChange
from monitor.models.base import utcnow
from monitor.services import decision_log
from monitor.services.licence_status import EXPIRING_EVENTS, TERMINAL_EVENTS
from validators.vocabularies import LICENCE_EVENTS

_CHAIN_LOCK_KEY = zlib.crc32(b"monitor.registry_changes")
BATCH_ROWS = 20_000  # rows per bulk statement: bounded memory, few round trips
LICENCE_EVENT_COLUMNS = ("licence_no", "event", "effective_date", "expires", "reason", "seq")


class RegistryRefused(ValueError):
    """A change the registry's rules do not allow; the message says why, for people."""


# --- the change history ----------------------------------------------------------


def json_value(value: Any) -> Any:
    """A typed registry value as the change history stores it (dates ISO, Decimals plain)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def row_key(key: Sequence[Any]) -> str:
    """A natural key as `registry_changes.row_key` holds it: the parts joined by `|`."""
    return "|".join(str(json_value(part)) for part in key)[:300]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hashed_fields(change: RegistryChange) -> dict[str, Any]:
    """The fields of a stored change that its hash covers."""
    return {
        "table_name": change.table_name,
        "row_key": change.row_key,
        "action": change.action,
        "old_values": change.old_values,
        "new_values": change.new_values,
        "changed_by": change.changed_by,
        "changed_at": _utc_text(change.changed_at),
        "source_file": change.source_file,
    }


def entry_hash(prev_hash: str | None, canonical_entry: str) -> str:
    """SHA-256 over the previous entry's hash and this entry's canonical JSON."""
    return hashlib.sha256(((prev_hash or "") + canonical_entry).encode("utf-8")).hexdigest()


class _SerialisedJSON(sa.types.TypeDecorator):
    """A JSON column value handed over already serialised (skips a second dump)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else sa.JSON())

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


class ChangeLog:
    """The change entries of one import, hashed into the chain and written in batches.

    The canonical JSON of an entry is `json.dumps(entry, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`, as `verify_change_chain`
    recomputes it. Here it is assembled from pieces (the fields shared by
    the whole import are serialised once; per entry only the values and
    the row key), which gives the same text at a fraction of the cost: an
    import of 300,000 new rows logs 300,000 inserts.

    `start()` takes the import's lock (PostgreSQL: a transaction-level
    advisory lock, so concurrent imports store one after the other and the
    chain cannot fork) and reads the chain's head; call it before reading
    the stored rows to compare against.
    """

    def __init__(self, session: Session, *, changed_by: str, changed_at: dt.datetime) -> None:
        self.session = session
        self.changed_by = changed_by
        self.changed_at = changed_at
        at_text = _utc_text(changed_at)
        self._heads = {
            action: f'{{"action":{encode_basestring(action)},"changed_at":"{at_text}",'
            f'"changed_by":{encode_basestring(changed_by)},"new_values":'
            for action in ("insert", "update")
        }
        self._tails: dict[tuple[str, str], str] = {}
        self._prev_hash: str | None = None
        self.start_hash: str | None = None
        self._pending: list[dict[str, Any]] = []
        self._statement = sa.insert(RegistryChange.__table__).values(
            old_values=sa.type_coerce(sa.bindparam("old_json"), _SerialisedJSON()),
            new_values=sa.type_coerce(sa.bindparam("new_json"), _SerialisedJSON()),
        )

    def start(self) -> None:
        """Lock out concurrent imports (PostgreSQL) and read the chain's head."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CHAIN_LOCK_KEY)))
        self._prev_hash = self.start_hash = self.session.scalar(
            sa.select(RegistryChange.entry_hash).order_by(RegistryChange.id.desc()).limit(1)
        )

    @property
    def head_hash(self) -> str | None:
        """The chain's head after the entries added so far."""
        return self._prev_hash

    def add(
        self,
        *,
        table_name: str,
        source_file: str,
        action: str,
        row_key: str,
        old_values: dict[str, Any] | None,
        new_values: dict[str, Any],
    ) -> None:
        new_json = _canonical(new_values)
        old_json = None if old_values is None else _canonical(old_values)
        tail = self._tails.get((source_file, table_name))
        if tail is None:
            tail = self._tails[source_file, table_name] = (
                f',"source_file":{encode_basestring(source_file)},'
                f'"table_name":{encode_basestring(table_name)}}}'
            )
        canonical = (
            f'{self._heads[action]}{new_json},"old_values":{old_json or "null"},'
            f'"row_key":{encode_basestring(row_key)}{tail}'
        )
        prev_hash, self._prev_hash = self._prev_hash, entry_hash(self._prev_hash, canonical)
        self._pending.append(
            {
                "table_name": table_name,
                "row_key": row_key,
                "action": action,
                "old_json": old_json,
                "new_json": new_json,
                "changed_by": self.changed_by,
                "changed_at": self.changed_at,
                "source_file": source_file,
                "prev_hash": prev_hash,
                "entry_hash": self._prev_hash,
            }
        )
        if len(self._pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the entries added so far."""
        if self._pending:
            self.session.execute(self._statement, self._pending)
            self._pending = []


def verify_change_chain(session: Session) -> int | None:
    """The id of the first RegistryChange whose hash does not hold, or None if all hold."""
    prev_hash: str | None = None
    query = sa.select(RegistryChange).order_by(RegistryChange.id).execution_options(yield_per=5000)
    changes = session.scalars(query)
    try:
        for change in changes:
            expected = entry_hash(prev_hash, _canonical(_hashed_fields(change)))
            if change.prev_hash != prev_hash or change.entry_hash != expected:
                return change.id
            prev_hash = change.entry_hash
    finally:
        changes.close()
    return None


# --- licence events the monitor writes -------------------------------------------


def record_licence_event(
    session: Session,
    licence_no: str,
    event: str,
    effective_date: dt.date,
    reason: str | None,
    changed_by: str,
    *,
    expires: dt.date | None = None,
    source: str = "monitor",
) -> LicenceEvent:
    """Insert one licence event with its change history and decision log entries
    (flushed, not committed); RegistryRefused when the registry's rules forbid it."""
    if event not in LICENCE_EVENTS:
        raise RegistryRefused(f"Unknown licence event {event!r}: use {', '.join(LICENCE_EVENTS)}.")
    if event in EXPIRING_EVENTS and expires is None:
        raise RegistryRefused(f"An {event} event needs its expiry date.")
    if session.scalar(sa.select(Agency.id).where(Agency.licence_no == licence_no)) is None:
        raise RegistryRefused(f"Licence {licence_no!r} is not in the registry.")
    change_log = ChangeLog(session, changed_by=changed_by, changed_at=utcnow())
    change_log.start()  # the import's lock first: nothing changes the events meanwhile
    held = session.execute(
        sa.select(LicenceEvent.event, LicenceEvent.effective_date, LicenceEvent.seq).where(
            LicenceEvent.licence_no == licence_no
        )
    ).all()
    if any(row.event == event and row.effective_date == effective_date for row in held):
        raise RegistryRefused(
            f"Licence {licence_no} already has a {event} event on {effective_date.isoformat()}."
        )
    terminal = sorted(row.effective_date for row in held if row.event in TERMINAL_EVENTS)
    if terminal and terminal[0] <= effective_date:
        raise RegistryRefused(
            f"Licence {licence_no} was revoked or cancelled on {terminal[0].isoformat()}: "
            "no event may follow."
        )
    later = sorted(row.effective_date for row in held if row.effective_date > effective_date)
    if event in TERMINAL_EVENTS and later:
        raise RegistryRefused(
            f"Licence {licence_no} has an event on {later[-1].isoformat()}: a {event} "
            "event may not precede it (no event may follow a revocation or cancellation)."
        )
    seq = 1 + max((row.seq for row in held if row.effective_date == effective_date), default=-1)
    row = LicenceEvent(
        licence_no=licence_no,
        event=event,
        effective_date=effective_date,
        expires=expires,
        reason=reason,
        seq=seq,
    )
    session.add(row)
    session.flush()
    values = {name: json_value(getattr(row, name)) for name in LICENCE_EVENT_COLUMNS}
    change_log.add(
        table_name=LicenceEvent.__tablename__,
        source_file=source[:300],
        action="insert",
        row_key=row_key((licence_no, effective_date, event)),
        old_values=None,
        new_values=values,
    )
    change_log.flush()
    decision_log.append(
        session,
        changed_by,
        "registry.licence_event",
        licence_no,
        {
            "licence_event_id": row.id,
            **values,
            "source": source[:300],
            "changes_from_hash": change_log.start_hash,
            "changes_head_hash": change_log.head_hash,
        },
    )
    return row
