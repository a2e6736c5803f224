"""The decision log: one hash-chained, append-only record of who did what, when.

Every account change, API token creation or revocation, registry import
that changed something and (later) every decision on a flag is appended
here with `append(session, actor, action, subject, payload)`, in the same
transaction as the change itself: a change rolled back leaves no entry.
`append` never commits; the caller's commit stores both.

**An entry** (table `decision_log`, model `DecisionLogEntry`): `id` (the
chain's order), `recorded_at` (UTC), `actor` (a username, or `system`,
`audit`, `cli:<OS user>` ...), `action` (`account.create`,
`token.create`, `token.revoke`, `registry.change`, ...), `subject` (what
it is about: a username, a licence_no, `registry`), `payload` (canonical
JSON text: `orjson.dumps(value, option=OPT_SORT_KEYS)`, sorted keys and
no spaces: `monitor.canonical.canonical_json`), `previous_hash` and
`entry_hash`.

**The hash.** `entry_hash` is the SHA-256 (lower-case hex) of the UTF-8
bytes of the canonical JSON (sorted keys, no spaces) of the object::

    {"action": action, "actor": actor, "payload": payload,
     "previous_hash": previous_hash, "recorded_at": recorded_at,
     "subject": subject}

where `payload` is the stored payload *text* (a JSON string inside the
object, so it is hashed exactly as stored), `recorded_at` is written
`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, and `previous_hash` is the previous
entry's `entry_hash`, or 64 zeros (`GENESIS`) for the first entry. `id` is
not hashed: the order is the chain itself (each entry names its
predecessor), so database ids may have gaps (PostgreSQL sequences skip
numbers when a transaction rolls back) without breaking anything.

**Appending** is serialised: on PostgreSQL a transaction-level advisory
lock (`pg_advisory_xact_lock`), held until the caller commits; on SQLite
the database's write lock, taken (by an INSERT that inserts nothing)
before the head is read. `previous_hash` and `entry_hash` are unique, so
even an appender that bypassed the lock could not fork the chain: the
second entry after one head is refused by the database. Take the lock
last (append just before committing): a transaction holding it and
waiting for another lock (the registry import's) could deadlock with one
doing the reverse. Sessions must be READ COMMITTED on PostgreSQL (the
default), so the head read after the lock is the committed one.

**Verifying** (`verify`) walks the log in id order, streaming (`yield_per`),
and names the first entry that is wrong: *edited* (its fields no longer
give its `entry_hash`), *reordered* (it does not follow the entry before it,
but the entry it names as its predecessor is elsewhere in the table), or
*deleted* (the entry it names as its predecessor is gone: deleted, or
rewritten and re-hashed). A chain rewritten and re-hashed from some entry
to the end, or cut at its end, is consistent by itself; a signed
checkpoint catches both.

**Checkpoints** (`checkpoint`) are small signed JSON statements meant to
be handed to someone outside the ministry::

    {"created_at": "2026-12-02T01:00:00.000000Z",
     "format": "monitor-decision-log-checkpoint/1",
     "head_hash": "<entry_hash of the last entry, or GENESIS when empty>",
     "log_size": 1234,
     "public_key": "<Ed25519 public key, raw 32 bytes, base64>",
     "signature": "<Ed25519 signature, base64>"}

The signature covers the canonical JSON (sorted keys, no spaces, UTF-8)
of every field but `signature`. `verify(session, checkpoint)` then also
proves that the log still holds the checkpoint's entries: it has at least
`log_size` entries and the `log_size`-th one's hash is `head_hash`. The
private key lives in a PEM file outside the database (setting
`MONITOR_LOG_SIGNING_KEY`; by default `decision-log-signing-key.pem` in
the instance folder, created on first use with mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.canonical import canonical_json
from monitor.models import DecisionLogEntry
from monitor.models.base import utcnow

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "monitor-decision-log-checkpoint/1"
DEFAULT_KEY_FILENAME = "decision-log-signing-key.pem"
VERIFY_ROWS_PER_FETCH = 2_000
_APPEND_LOCK_KEY = zlib.crc32(b"monitor.decision_log")

Problem = Literal["edited", "deleted", "reordered", "truncated", "rewritten"]


class DecisionLogError(ValueError):
    """The log or a checkpoint cannot be used as asked (one clear sentence)."""


# --- entries -------------------------------------------------------------------


def _utc_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    recorded_at: dt.datetime,
    actor: str,
    action: str,
    subject: str,
    payload: str,
    previous_hash: str,
) -> str:
    """The SHA-256 of an entry's fields and its predecessor's hash (see the module docstring)."""
    hashed = {
        "action": action,
        "actor": actor,
        "payload": payload,
        "previous_hash": previous_hash,
        "recorded_at": _utc_text(recorded_at),
        "subject": subject,
    }
    return hashlib.sha256(orjson.dumps(hashed, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _take_append_lock(session: Session) -> None:
    """Hold the appenders' lock until the session's transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_APPEND_LOCK_KEY)))
        return
    # SQLite: a write statement takes the database's write lock (waiting the busy
    # timeout for another writer to commit) and keeps it until commit or rollback.
    table = DecisionLogEntry.__table__
    session.execute(
        sa.insert(table).from_select(
            [table.c.id],
            sa.select(table.c.id).where(sa.false()),
        )
    )


def append(
    session: Session, actor: str, action: str, subject: str, payload: Mapping[str, Any]
) -> DecisionLogEntry:
    """Append one entry after the current head (flushed, not committed) and return it."""
    session.flush()  # the caller's own writes first, in the same transaction
    _take_append_lock(session)
    head = session.scalar(
        sa.select(DecisionLogEntry.entry_hash).order_by(DecisionLogEntry.id.desc()).limit(1)
    )
    fields = {
        "recorded_at": utcnow(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": canonical_json(dict(payload)),
        "previous_hash": head or GENESIS,
    }
    entry = DecisionLogEntry(**fields, entry_hash=entry_hash(**fields))
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class LogEntry:
    """One entry as pages show it: the payload decoded."""

    id: int
    recorded_at: dt.datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    entry_hash: str


def recent_entries(
    session: Session, *, subject: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[LogEntry]:
    """The newest entries (of one subject, if given), newest first, older than `before_id`."""
    query = sa.select(DecisionLogEntry).order_by(DecisionLogEntry.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(DecisionLogEntry.subject == subject)
    if before_id is not None:
        query = query.where(DecisionLogEntry.id < before_id)
    return [
        LogEntry(
            id=row.id,
            recorded_at=row.recorded_at.replace(tzinfo=dt.UTC)
            if row.recorded_at.tzinfo is None
            else row.recorded_at,
            actor=row.actor,
            action=row.action,
            subject=row.subject,
            payload=orjson.loads(row.payload),
            entry_hash=row.entry_hash,
        )
        for row in session.scalars(query)
    ]


@dataclass(frozen=True)
class LogPage:
    """A page of entries, newest first, and where the next (older) page starts."""

    entries: list[LogEntry]
    older_before_id: int | None  # pass as `before_id` for the next page; None: the last page
    before_id: int | None  # this page's own `before_id` (None: the newest entries)


MAX_PAGE_ENTRIES = 200


def log_page(
    session: Session,
    *,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> LogPage:
    """One page of the log (of one subject, if given), newest first, keyset-paged by id.

    `before_id` continues after an earlier page (entries older than it);
    `limit` is kept between 1 and `MAX_PAGE_ENTRIES`. One indexed query
    (`ix_decision_log_subject` for a subject, the primary key otherwise),
    however long the log.
    """
    limit = min(max(limit, 1), MAX_PAGE_ENTRIES)
    entries = recent_entries(session, subject=subject, limit=limit + 1, before_id=before_id)
    older = entries[limit - 1].id if len(entries) > limit else None
    return LogPage(entries=entries[:limit], older_before_id=older, before_id=before_id)


# --- checkpoints -----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and head hash (see the module docstring)."""

    log_size: int
    head_hash: str
    created_at: str
    public_key: str
    signature: str
    format: str = CHECKPOINT_FORMAT

    def signed_text(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        fields = asdict(self)
        del fields["signature"]
        return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)

    def to_json(self) -> str:
        """The statement as one JSON object, indented for people to read."""
        return orjson.dumps(
            asdict(self), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
        ).decode()

    def fingerprint(self) -> str:
        """The first 16 hex digits of the public key's SHA-256, to compare keys by eye."""
        return public_key_fingerprint(self.public_key)


def public_key_fingerprint(public_key: str) -> str:
    """The first 16 hex digits of the SHA-256 of a base64 raw public key."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def signing_key_path(configured: str | None, instance_path: str | Path) -> tuple[Path, bool]:
    """The signing key's path and whether it was configured (else: the instance default)."""
    if configured:
        return Path(configured), True
    return Path(instance_path) / DEFAULT_KEY_FILENAME, False


def create_signing_key(path: Path) -> None:
    """Write a new Ed25519 private key (PEM, PKCS#8) to `path` with mode 0600.

    Refuses to overwrite: an existing key would make earlier checkpoints unverifiable.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(pem)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file `path`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise DecisionLogError(f"the signing key {path} does not exist") from None
    except (ValueError, TypeError) as exc:
        raise DecisionLogError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DecisionLogError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The raw 32-byte public key of `key`, base64."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def checkpoint(session: Session, key_path: Path) -> Checkpoint:
    """A statement of the log's size and head hash, signed with the key at `key_path`.

    The log is verified first: DecisionLogError (naming the first bad
    entry) rather than a signature on a broken chain.
    """
    key = load_signing_key(key_path)
    result = verify(session)
    if not result.ok:
        raise DecisionLogError(f"the log does not verify, nothing was signed: {result.message}")
    unsigned = Checkpoint(
        log_size=result.entries,
        head_hash=result.head_hash,
        created_at=_utc_text(utcnow()),
        public_key=public_key_text(key),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_text())).decode()
    return Checkpoint(**{**asdict(unsigned), "signature": signature})


def load_checkpoint(text: str | bytes, *, trusted_public_key: str | None = None) -> Checkpoint:
    """A checkpoint read from its JSON, its signature checked.

    With `trusted_public_key` (base64 raw), it must also be signed by that
    key. DecisionLogError says what is wrong.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        fields = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DecisionLogError(f"the checkpoint is not JSON: {exc}") from None
    expected = {"log_size", "head_hash", "created_at", "public_key", "signature", "format"}
    if not isinstance(fields, dict) or set(fields) != expected:
        raise DecisionLogError(
            f"the checkpoint must have exactly the fields {', '.join(sorted(expected))}"
        )
    if fields["format"] != CHECKPOINT_FORMAT:
        raise DecisionLogError(f"unknown checkpoint format {fields['format']!r}")
    if not isinstance(fields["log_size"], int) or fields["log_size"] < 0:
        raise DecisionLogError("the checkpoint's log_size must be a whole number")
    if not all(isinstance(fields[name], str) for name in expected - {"log_size"}):
        raise DecisionLogError("the checkpoint's fields other than log_size must be strings")
    statement = Checkpoint(**fields)
    try:
        public_key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(statement.public_key, validate=True)
        )
        public_key.verify(
            base64.b64decode(statement.signature, validate=True), statement.signed_text()
        )
    except (InvalidSignature, ValueError, binascii.Error):
        raise DecisionLogError(
            "the checkpoint's signature does not hold: the file was altered "
            "or not signed by its public key"
        ) from None
    if trusted_public_key is not None and statement.public_key != trusted_public_key:
        raise DecisionLogError(
            f"the checkpoint was signed by the key {statement.fingerprint()}, "
            f"not by this monitor's key {public_key_fingerprint(trusted_public_key)}"
        )
    return statement


# --- verifying -------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of `verify`: entries walked, the head, and the first problem if any."""

    ok: bool
    entries: int
    head_hash: str
    first_bad_id: int | None = None
    problem: Problem | None = None
    message: str = ""


def _broken_link(
    session: Session, row: Any, previous_id: int | None, previous_hash: str, count: int
) -> VerifyResult:
    """Entry `row` does not follow the one walked before it: reordered or deleted?

    The result's `entries` and `head_hash` are those of the chain up to the break.
    """
    after = f"entry {previous_id}" if previous_id is not None else "the start of the log"
    claimed = session.scalar(
        sa.select(DecisionLogEntry.id).where(DecisionLogEntry.entry_hash == row.previous_hash)
    )
    if claimed is not None:
        return VerifyResult(
            ok=False,
            entries=count,
            head_hash=previous_hash,
            first_bad_id=row.id,
            problem="reordered",
            message=(
                f"entry {row.id} was reordered: it follows entry {claimed} in the chain, "
                f"but is stored after {after}"
            ),
        )
    return VerifyResult(
        ok=False,
        entries=count,
        head_hash=previous_hash,
        first_bad_id=row.id,
        problem="deleted",
        message=(
            f"an entry was deleted before entry {row.id}: the entry it follows is gone "
            f"(it does not follow {after}; or {after} was rewritten and re-hashed)"
        ),
    )


def verify(session: Session, checkpoint: Checkpoint | None = None) -> VerifyResult:
    """Recompute the chain entry by entry and name the first entry that does not hold.

    With a checkpoint (already loaded, its signature checked), also prove
    that the log holds at least its `log_size` entries and that the
    `log_size`-th has its `head_hash`. Streams the log (never all of it in
    memory) in one statement, so it sees one state of the log.
    """
    columns = DecisionLogEntry.__table__.c
    query = (
        sa.select(
            columns.id,
            columns.recorded_at,
            columns.actor,
            columns.action,
            columns.subject,
            columns.payload,
            columns.previous_hash,
            columns.entry_hash,
        )
        .order_by(columns.id)
        .execution_options(yield_per=VERIFY_ROWS_PER_FETCH)
    )
    previous_hash, previous_id, count = GENESIS, None, 0
    seen_at_checkpoint = GENESIS if checkpoint is not None and checkpoint.log_size == 0 else None
    rows = session.execute(query)
    try:
        for row in rows:
            recomputed = entry_hash(
                recorded_at=row.recorded_at,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                payload=row.payload,
                previous_hash=row.previous_hash,
            )
            if recomputed != row.entry_hash:
                return VerifyResult(
                    ok=False,
                    entries=count,
                    head_hash=previous_hash,
                    first_bad_id=row.id,
                    problem="edited",
                    message=f"entry {row.id} was edited: its fields no longer give its hash",
                )
            if row.previous_hash != previous_hash:
                return _broken_link(session, row, previous_id, previous_hash, count)
            count += 1
            previous_hash, previous_id = row.entry_hash, row.id
            if checkpoint is not None and count == checkpoint.log_size:
                seen_at_checkpoint = row.entry_hash
                if row.entry_hash != checkpoint.head_hash:
                    return VerifyResult(
                        ok=False,
                        entries=count,
                        head_hash=row.entry_hash,
                        first_bad_id=row.id,
                        problem="rewritten",
                        message=(
                            f"entry {row.id} is not the one the checkpoint of "
                            f"{checkpoint.created_at} saw as entry number {count}: "
                            "the log was rewritten up to it and re-hashed"
                        ),
                    )
    finally:
        rows.close()
    if checkpoint is not None and seen_at_checkpoint != checkpoint.head_hash:
        if count < checkpoint.log_size:
            message = (
                f"the log holds {count} entries but the checkpoint of {checkpoint.created_at} "
                f"saw {checkpoint.log_size}: entries after "
                f"{f'entry {previous_id}' if previous_id is not None else 'the start'} "
                "were deleted"
            )
        else:  # an empty checkpoint of another log
            message = "the checkpoint does not describe this log"
        return VerifyResult(
            ok=False,
            entries=count,
            head_hash=previous_hash,
            first_bad_id=None,
            problem="truncated",
            message=message,
        )
    return VerifyResult(ok=True, entries=count, head_hash=previous_hash)
