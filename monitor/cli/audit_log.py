"""`monitor audit-log ...`: verify the decision log and sign checkpoints of it.

    monitor audit-log verify [--checkpoint FILE]
    monitor audit-log checkpoint [--output FILE]

`verify` recomputes the hash chain (and, with `--checkpoint`, proves the
log still holds and extends what that signed checkpoint saw): exit 0 and
the number of entries and the head hash, or exit 1 and one line naming the
first entry edited, deleted or reordered (or why the checkpoint does not
hold). `checkpoint` prints a signed statement of the log's size and head
hash, or writes it to FILE; without a configured key
(`MONITOR_LOG_SIGNING_KEY`) it makes one in the instance folder on first
use and says so. Exit 3: the database cannot be used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from monitor import db
from monitor.cli import needs_database

audit_log_group = AppGroup("audit-log", help="Verify the decision log; sign checkpoints of it.")


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _key_path() -> tuple[Path, bool]:
    from monitor.services import decision_log

    return decision_log.signing_key_path(
        current_app.config.get("LOG_SIGNING_KEY"), current_app.instance_path
    )


@audit_log_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint made by `audit-log checkpoint`: the log must still hold what it saw.",
)
@needs_database
def verify_command(checkpoint_file: Path | None) -> None:
    """Recompute the decision log's hash chain; exit 1 naming the first bad entry."""
    from monitor.services import decision_log

    statement = None
    if checkpoint_file is not None:
        key_path, _configured = _key_path()
        trusted = None
        if key_path.exists():
            try:
                trusted = decision_log.public_key_text(decision_log.load_signing_key(key_path))
            except decision_log.DecisionLogError as exc:
                _fail(str(exc))
        try:
            statement = decision_log.load_checkpoint(
                checkpoint_file.read_bytes(), trusted_public_key=trusted
            )
        except decision_log.DecisionLogError as exc:
            _fail(f"{checkpoint_file}: {exc}")
            return
    result = decision_log.verify(db.session(), statement)
    if not result.ok:
        _fail(result.message)
    click.echo(f"The decision log holds: {result.entries} entries, head hash {result.head_hash}.")
    if statement is not None:
        click.echo(
            f"It extends the checkpoint of {statement.created_at} ({statement.log_size} "
            f"entries, key {statement.fingerprint()})."
        )


@audit_log_group.command("checkpoint")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the signed checkpoint to this file instead of printing it.",
)
@needs_database
def checkpoint_command(output: Path | None) -> None:
    """Sign a statement of the decision log's size and head hash."""
    from monitor.services import decision_log

    key_path, configured = _key_path()
    if not key_path.exists():
        if configured:
            _fail(f"the signing key {key_path} (MONITOR_LOG_SIGNING_KEY) does not exist")
        decision_log.create_signing_key(key_path)
        click.echo(
            f"No signing key was configured (MONITOR_LOG_SIGNING_KEY): made a new one in "
            f"{key_path} (mode 0600). Keep it safe and outside the database's backups.",
            err=True,
        )
    try:
        statement = decision_log.checkpoint(db.session(), key_path)
    except decision_log.DecisionLogError as exc:
        _fail(str(exc))
        return
    text = statement.to_json() + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    click.echo(
        f"Checkpoint of {statement.log_size} entries, head hash {statement.head_hash}, "
        f"signed by the key {statement.fingerprint()}"
        + (f", written to {output}." if output is not None else "."),
        err=True,
    )


def register(cli: click.Group) -> None:
    """Add the `audit-log` command group to `cli`."""
    cli.add_command(audit_log_group)
