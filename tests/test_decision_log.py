"""The decision log: appends chain, verify names the first edited, deleted or
reordered entry, signed checkpoints catch truncation and re-hashed rewrites,
PostgreSQL refuses UPDATE and DELETE, concurrent appenders never fork the
chain, and the writes that log do so in their own transaction."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_PASSWORD
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.models import Agency, DecisionLogEntry
from monitor.services import accounts, decision_log
from monitor.services.registry_import import import_registry

log_table = DecisionLogEntry.__table__


def append_entries(session: Session, count: int, *, subject: str = "L-1") -> list[int]:
    ids = []
    for number in range(count):
        entry = decision_log.append(
            session, "ana", "flag.comment", subject, {"number": number, "text": "looked at it"}
        )
        ids.append(entry.id)
    session.commit()
    return ids


def attack(engine: Engine, statement: str, **parameters: object) -> None:
    """Write the log behind the monitor's back, as an owner of the database would:
    on PostgreSQL with triggers off (a superuser's `session_replication_role`)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(sa.text(statement), parameters)


def rehash_from(engine: Engine, first_id: int) -> None:
    """Recompute every hash from `first_id` on, as a forger who knows the format would."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        rows = conn.execute(sa.select(log_table).order_by(log_table.c.id)).all()
        previous = decision_log.GENESIS
        for row in rows:
            if row.id >= first_id:
                new_hash = decision_log.entry_hash(
                    recorded_at=row.recorded_at,
                    actor=row.actor,
                    action=row.action,
                    subject=row.subject,
                    payload=row.payload,
                    previous_hash=previous,
                )
                # Park the old hashes first: previous_hash and entry_hash are unique.
                conn.execute(
                    log_table.update()
                    .where(log_table.c.id == row.id)
                    .values(previous_hash=f"tmp-p-{row.id}", entry_hash=f"tmp-e-{row.id}")
                )
                conn.execute(
                    log_table.update()
                    .where(log_table.c.id == row.id)
                    .values(previous_hash=previous, entry_hash=new_hash)
                )
                previous = new_hash
            else:
                previous = row.entry_hash


# --- appending and verifying ---------------------------------------------------------


def test_appended_entries_chain_and_verify(session: Session) -> None:
    ids = append_entries(session, 3)
    entries = session.scalars(sa.select(DecisionLogEntry).order_by(DecisionLogEntry.id)).all()
    assert [entry.id for entry in entries] == ids
    assert entries[0].previous_hash == decision_log.GENESIS
    assert [e.previous_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert entries[2].payload == '{"number":2,"text":"looked at it"}'
    result = decision_log.verify(session)
    assert result.ok and result.entries == 3 and result.head_hash == entries[2].entry_hash


def test_recent_entries_of_a_subject_newest_first(session: Session) -> None:
    first = append_entries(session, 3, subject="L-1")
    append_entries(session, 2, subject="L-2")
    entries = decision_log.recent_entries(session, subject="L-1", limit=2)
    assert [entry.id for entry in entries] == [first[2], first[1]]
    assert entries[0].payload == {"number": 2, "text": "looked at it"}
    assert entries[0].recorded_at.tzinfo is not None
    older = decision_log.recent_entries(session, subject="L-1", before_id=first[1])
    assert [entry.id for entry in older] == [first[0]]
    assert len(decision_log.recent_entries(session)) == 5


def test_the_hash_is_the_documented_sha256_of_the_canonical_fields(session: Session) -> None:
    """Anyone can recompute an entry's hash from the module docstring, with the standard library."""
    append_entries(session, 1)
    entry = session.scalar(sa.select(DecisionLogEntry))
    fields = {
        "action": entry.action,
        "actor": entry.actor,
        "payload": entry.payload,
        "previous_hash": entry.previous_hash,
        "recorded_at": entry.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "subject": entry.subject,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.entry_hash == hashlib.sha256(text.encode()).hexdigest()


def test_an_empty_log_verifies_with_the_genesis_head(session: Session, runner) -> None:
    result = runner.invoke(args=["audit-log", "verify"])
    assert result.exit_code == 0, result.output
    assert f"0 entries, head hash {decision_log.GENESIS}" in result.stdout


def test_an_entry_edited_in_the_database_is_named(session: Session, engine: Engine, runner) -> None:
    ids = append_entries(session, 5)
    attack(
        engine,
        "UPDATE decision_log SET payload = :payload WHERE id = :id",
        payload='{"number":2,"text":"never looked"}',
        id=ids[2],
    )
    result = decision_log.verify(session)
    assert (result.ok, result.problem, result.first_bad_id) == (False, "edited", ids[2])
    cli = runner.invoke(args=["audit-log", "verify"])
    assert cli.exit_code == 1
    assert f"entry {ids[2]} was edited" in cli.stderr


def test_an_edited_actor_or_time_is_caught_too(session: Session, engine: Engine) -> None:
    ids = append_entries(session, 3)
    attack(engine, "UPDATE decision_log SET actor = 'bo' WHERE id = :id", id=ids[1])
    assert decision_log.verify(session).first_bad_id == ids[1]


def test_a_deleted_middle_entry_is_caught(session: Session, engine: Engine, runner) -> None:
    ids = append_entries(session, 5)
    attack(engine, "DELETE FROM decision_log WHERE id = :id", id=ids[2])
    result = decision_log.verify(session)
    assert (result.ok, result.problem, result.first_bad_id) == (False, "deleted", ids[3])
    assert result.entries == 2  # the chain holds up to the break
    assert result.head_hash == session.scalar(
        sa.select(DecisionLogEntry.entry_hash).where(DecisionLogEntry.id == ids[1])
    )
    cli = runner.invoke(args=["audit-log", "verify"])
    assert cli.exit_code == 1
    assert f"an entry was deleted before entry {ids[3]}" in cli.stderr


def test_a_deleted_first_entry_is_caught(session: Session, engine: Engine) -> None:
    ids = append_entries(session, 3)
    attack(engine, "DELETE FROM decision_log WHERE id = :id", id=ids[0])
    result = decision_log.verify(session)
    assert (result.problem, result.first_bad_id) == ("deleted", ids[1])


def test_reordered_entries_are_caught(session: Session, engine: Engine) -> None:
    ids = append_entries(session, 5)
    # Swap the places of the second and third entries.
    attack(engine, "UPDATE decision_log SET id = -1 WHERE id = :id", id=ids[1])
    attack(engine, "UPDATE decision_log SET id = :new WHERE id = :id", new=ids[1], id=ids[2])
    attack(engine, "UPDATE decision_log SET id = :new WHERE id = -1", new=ids[2])
    result = decision_log.verify(session)
    assert (result.ok, result.problem, result.first_bad_id) == (False, "reordered", ids[1])
    assert f"it follows entry {ids[2]} in the chain" in result.message


# --- checkpoints ---------------------------------------------------------------------


def make_checkpoint(runner, path: Path) -> dict:
    result = runner.invoke(args=["audit-log", "checkpoint", "--output", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text())


def test_deleting_the_last_entries_is_caught_by_the_checkpoint(
    session: Session, engine: Engine, runner, tmp_path: Path
) -> None:
    ids = append_entries(session, 5)
    saved = make_checkpoint(runner, tmp_path / "checkpoint.json")
    assert saved["log_size"] == 5
    assert saved["head_hash"] == session.scalar(
        sa.select(DecisionLogEntry.entry_hash).where(DecisionLogEntry.id == ids[-1])
    )
    attack(engine, "DELETE FROM decision_log WHERE id >= :id", id=ids[3])
    plain = runner.invoke(args=["audit-log", "verify"])
    assert plain.exit_code == 0  # a shorter chain is consistent by itself
    assert "3 entries" in plain.stdout
    checked = runner.invoke(
        args=["audit-log", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")]
    )
    assert checked.exit_code == 1
    assert "the log holds 3 entries but the checkpoint" in checked.stderr
    assert f"saw 5: entries after entry {ids[2]} were deleted" in checked.stderr


def test_a_rewritten_and_rehashed_history_is_caught_by_the_checkpoint(
    session: Session, engine: Engine, runner, tmp_path: Path
) -> None:
    ids = append_entries(session, 5)
    make_checkpoint(runner, tmp_path / "checkpoint.json")
    attack(
        engine,
        "UPDATE decision_log SET payload = :payload WHERE id = :id",
        payload='{"number":9}',
        id=ids[1],
    )
    rehash_from(engine, ids[1])
    assert decision_log.verify(session).ok  # consistent after re-hashing
    checked = runner.invoke(
        args=["audit-log", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")]
    )
    assert checked.exit_code == 1
    assert f"entry {ids[4]} is not the one the checkpoint" in checked.stderr
    assert "rewritten" in checked.stderr


def test_a_log_that_grew_extends_its_checkpoint(session: Session, runner, tmp_path: Path) -> None:
    append_entries(session, 2)
    saved = make_checkpoint(runner, tmp_path / "checkpoint.json")
    append_entries(session, 3)
    result = runner.invoke(
        args=["audit-log", "verify", "--checkpoint", str(tmp_path / "checkpoint.json")]
    )
    assert result.exit_code == 0, result.output
    assert "5 entries" in result.stdout
    assert f"extends the checkpoint of {saved['created_at']} (2 entries" in result.stdout


def test_a_tampered_checkpoint_file_is_refused(session: Session, runner, tmp_path: Path) -> None:
    append_entries(session, 4)
    path = tmp_path / "checkpoint.json"
    saved = make_checkpoint(runner, path)
    path.write_text(json.dumps({**saved, "log_size": 2}))  # "it only ever had 2 entries"
    result = runner.invoke(args=["audit-log", "verify", "--checkpoint", str(path)])
    assert result.exit_code == 1
    assert "signature does not hold" in result.stderr
    path.write_text(json.dumps({**saved, "signature": "A" * 88}))
    result = runner.invoke(args=["audit-log", "verify", "--checkpoint", str(path)])
    assert result.exit_code == 1
    assert "signature does not hold" in result.stderr


def test_a_checkpoint_signed_by_another_key_is_refused(
    session: Session, runner, tmp_path: Path
) -> None:
    append_entries(session, 2)
    make_checkpoint(runner, tmp_path / "ours.json")  # makes this monitor's key
    forger_key = tmp_path / "forger.pem"
    decision_log.create_signing_key(forger_key)
    forged = decision_log.checkpoint(session, forger_key)
    (tmp_path / "forged.json").write_text(forged.to_json())
    result = runner.invoke(
        args=["audit-log", "verify", "--checkpoint", str(tmp_path / "forged.json")]
    )
    assert result.exit_code == 1
    assert f"signed by the key {forged.fingerprint()}, not by this monitor's key" in result.stderr


def test_the_signing_key_is_made_once_in_the_instance_folder(
    session: Session, app: Flask, runner
) -> None:
    append_entries(session, 1)
    key = Path(app.instance_path) / decision_log.DEFAULT_KEY_FILENAME
    first = runner.invoke(args=["audit-log", "checkpoint"])
    assert first.exit_code == 0, first.output
    assert f"made a new one in {key} (mode 0600)" in first.stderr
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    statement = decision_log.load_checkpoint(first.stdout)
    assert (statement.log_size, statement.format) == (1, decision_log.CHECKPOINT_FORMAT)
    second = runner.invoke(args=["audit-log", "checkpoint"])
    assert second.exit_code == 0
    assert "made a new one" not in second.stderr
    assert decision_log.load_checkpoint(second.stdout).public_key == statement.public_key


def test_a_configured_key_that_is_missing_is_an_error(
    session: Session, app: Flask, runner, tmp_path: Path
) -> None:
    app.config["LOG_SIGNING_KEY"] = str(tmp_path / "nowhere.pem")
    result = runner.invoke(args=["audit-log", "checkpoint"])
    assert result.exit_code == 1
    assert "nowhere.pem (MONITOR_LOG_SIGNING_KEY) does not exist" in result.stderr
    assert not (tmp_path / "nowhere.pem").exists()


def test_a_broken_log_is_not_signed(session: Session, engine: Engine, runner) -> None:
    ids = append_entries(session, 3)
    attack(engine, "UPDATE decision_log SET subject = 'L-2' WHERE id = :id", id=ids[0])
    result = runner.invoke(args=["audit-log", "checkpoint"])
    assert result.exit_code == 1
    assert f"nothing was signed: entry {ids[0]} was edited" in result.stderr
    assert '"signature"' not in result.stdout


# --- the database's own protection -------------------------------------------------


def test_postgresql_refuses_update_delete_and_truncate(session: Session, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    ids = append_entries(session, 2)
    for statement in (
        log_table.update().where(log_table.c.id == ids[0]).values(actor="bo"),
        log_table.delete().where(log_table.c.id == ids[1]),
        sa.text("TRUNCATE decision_log"),
    ):
        with (
            pytest.raises(sa.exc.DBAPIError, match="the decision log is append-only"),
            engine.begin() as conn,
        ):
            conn.execute(statement)
    assert decision_log.verify(session).entries == 2


def test_concurrent_appenders_never_fork_the_chain(app: Flask, session: Session) -> None:
    threads_count, per_thread = 4, 12
    factory = app.extensions["monitor.sessionmaker"]
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def appender(number: int) -> None:
        try:
            barrier.wait()
            with factory() as own:
                for item in range(per_thread):
                    decision_log.append(
                        own, f"reviewer{number}", "flag.comment", "L-1", {"i": item}
                    )
                    own.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    result = decision_log.verify(session)
    assert result.ok and result.entries == threads_count * per_thread
    actors = session.scalars(sa.select(DecisionLogEntry.actor).distinct()).all()
    assert len(actors) == threads_count


# --- the writes that log ---------------------------------------------------------------


def actions(session: Session) -> list[tuple[str, str, str, dict]]:
    return [
        (entry.actor, entry.action, entry.subject, json.loads(entry.payload))
        for entry in session.scalars(sa.select(DecisionLogEntry).order_by(DecisionLogEntry.id))
    ]


def test_account_and_token_changes_are_logged(session: Session, runner) -> None:
    user = accounts.create_user(
        session, username="mia", password=TEST_PASSWORD, role="partner", country="MY", actor="ana"
    )
    token = accounts.create_token(session, username="mia", name="laptop", actor="ana")
    token_id = accounts.token_id(session, token)
    accounts.revoke_token(session, token_id, actor="ana")
    accounts.revoke_token(session, token_id, actor="ana")  # already revoked: nothing new
    assert actions(session) == [
        ("ana", "account.create", "mia", {"user_id": user.id, "role": "partner", "country": "MY"}),
        ("ana", "token.create", "mia", {"token_id": token_id, "name": "laptop"}),
        ("ana", "token.revoke", "mia", {"token_id": token_id, "name": "laptop"}),
    ]
    result = runner.invoke(
        args=["users", "create", "bo", "--role", "reviewer", "--password-stdin"],
        input=TEST_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    actor, action, subject, _payload = actions(session)[-1]
    assert (action, subject) == ("account.create", "bo")
    assert actor.startswith("cli")
    assert decision_log.verify(session).ok


def test_a_refused_account_leaves_no_entry(session: Session, make_user) -> None:
    make_user("ana", "admin")
    with pytest.raises(accounts.AccountError):
        accounts.create_user(session, username="ana", password=TEST_PASSWORD, role="admin")
    assert len(actions(session)) == 1


AGENCIES = {"agencies.csv": "licence_no,name\nL-7,Seven\nL-8,Eight\n"}


def write_registry(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_a_registry_import_logs_one_entry_with_its_counts(session: Session, tmp_path: Path) -> None:
    directory = write_registry(tmp_path / "v1", AGENCIES)
    import_registry(session, directory, changed_by="cli:alice")
    import_registry(session, directory, changed_by="cli:alice")  # unchanged: no entry
    changed = write_registry(tmp_path / "v2", {"agencies.csv": "licence_no,name\nL-7,Seven Ltd\n"})
    import_registry(session, changed, changed_by="cli:bob")
    logged = actions(session)
    assert [(actor, action, subject) for actor, action, subject, _ in logged] == [
        ("cli:alice", "registry.change", "registry"),
        ("cli:bob", "registry.change", "registry"),
    ]
    first, second = logged[0][3], logged[1][3]
    assert first["files"] == [{"file": "agencies.csv", "inserted": 2, "updated": 0}]
    assert second["files"] == [{"file": "agencies.csv", "inserted": 0, "updated": 1}]
    assert first["changes_from_hash"] is None
    assert second["changes_from_hash"] == first["changes_head_hash"]
    head = session.execute(sa.text("SELECT entry_hash FROM registry_changes ORDER BY id DESC"))
    assert second["changes_head_hash"] == head.first()[0]


def test_a_rolled_back_registry_import_leaves_no_entry(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_commit() -> None:
        raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(session, "commit", failing_commit)
    report = import_registry(session, write_registry(tmp_path, AGENCIES), changed_by="cli:alice")
    monkeypatch.undo()
    assert report.error
    assert session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 0
    assert actions(session) == []
