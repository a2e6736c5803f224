"""CLI of the flags for staff: `monitor flags list` and `monitor flags show ID`.

They join the `flags` group (`monitor.cli.audit`, which has `export`).
Import-light: the service is imported inside each command, and it reads
the flags table only (no person matching, no pandas).

`monitor flags list [--rule R] [--licence L] [--status S] [--review-state S] [--limit N]`
prints one line per flag, by id: id, rule, severity, status, review state,
licence, first and last seen, the latest decision (action by whom) and the
subject, then how many matched in all.
`monitor flags show ID` prints the flag, its review state and latest
decision, the rule's definition and its evidence, one item a line (exit 1
when there is no such flag).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

from monitor import db
from monitor.cli import needs_database
from monitor.models.audit import REVIEW_STATES

if TYPE_CHECKING:
    from monitor.services.flag_list import LatestDecision


def _subject_text(subject: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(subject.items())) or "-"


def _decision_text(decision: LatestDecision | None) -> str:
    return f"{decision.action} by {decision.username}" if decision else "-"


@click.command("list")
@click.option("--rule", help="Only this rule's flags (e.g. FEE_OVER_CAP).")
@click.option("--licence", "licence_no", help="Only this agency's flags (licence number).")
@click.option("--status", help="Only flags in this status (open, cleared).")
@click.option(
    "--review-state",
    type=click.Choice(REVIEW_STATES),
    help="Only flags in this review state.",
)
@click.option("--limit", default=100, show_default=True, help="At most this many flags.")
@with_appcontext
@needs_database
def list_command(
    rule: str | None,
    licence_no: str | None,
    status: str | None,
    review_state: str | None,
    limit: int,
) -> None:
    """List flags by id, optionally by rule, licence, status and review state."""
    from monitor.services import flag_list

    session = db.session()
    filters = {
        "rule": rule,
        "licence_no": licence_no,
        "status": status,
        "review_state": review_state,
    }
    flags = flag_list.list_flags(session, **filters, limit=limit)
    total = flag_list.count_flags(session, **filters)
    click.echo(
        f"{'id':>8}  {'rule':<26} {'severity':<8} {'status':<8} {'review':<18} "
        f"{'licence':<12} {'first seen':<10}  {'last seen':<10}  {'latest decision':<28} subject"
    )
    for flag in flags:
        click.echo(
            f"{flag.id:>8}  {flag.rule:<26} {flag.severity:<8} {flag.status:<8} "
            f"{flag.review_state:<18} {flag.licence_no or '-':<12} "
            f"{flag.first_seen.isoformat():<10}  {flag.last_seen.isoformat():<10}  "
            f"{_decision_text(flag.latest_decision):<28} {_subject_text(flag.subject)}"
        )
    noun = "flag" if total == 1 else "flags"
    more = f"; the first {len(flags)} shown (--limit)" if total > len(flags) else ""
    click.echo(f"{total} {noun} match{'es' if total == 1 else ''}{more}.")


@click.command("show")
@click.argument("flag_id", type=int)
@with_appcontext
@needs_database
def show_command(flag_id: int) -> None:
    """Show one flag: the rule's definition, its subject and its evidence."""
    from jobs.rules import rule_definitions
    from monitor.services import flag_list

    flag = flag_list.get_flag(db.session(), flag_id, definitions=rule_definitions())
    if flag is None:
        click.echo(f"Error: there is no flag {flag_id}.", err=True)
        sys.exit(1)
    lines = [
        f"Flag {flag.id}: {flag.rule} ({flag.severity}), {flag.status}",
        f"Review state: {flag.review_state}",
        "Latest decision: "
        + (
            f"{flag.latest_decision.action} by {flag.latest_decision.username} "
            f"({flag.latest_decision.role}) on "
            f"{flag.latest_decision.decided_at:%Y-%m-%d %H:%M} UTC"
            + (f", reason {flag.latest_decision.reason}" if flag.latest_decision.reason else "")
            if flag.latest_decision
            else "-"
        ),
        f"Rule: {flag.definition}",
        f"Agency: {flag.licence_no or '-'}",
        f"Partner country: {flag.partner_country or '-'}",
        f"Subject: {_subject_text(flag.subject)}",
        f"Workers affected: {flag.workers_affected}",
        f"First seen: {flag.first_seen.isoformat()} (run {flag.first_run_id or '-'})",
        f"Last seen: {flag.last_seen.isoformat()} (run {flag.last_run_id or '-'})",
        "Evidence:",
    ]
    for key, value in sorted(flag.evidence.items()):
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  {key}: {shown}")
    click.echo("\n".join(lines))


def register(cli: click.Group) -> None:
    """Add `list` and `show` to the `flags` group (`cli` holds it already)."""
    from monitor.cli.audit import flags_group

    flags_group.add_command(list_command)
    flags_group.add_command(show_command)
