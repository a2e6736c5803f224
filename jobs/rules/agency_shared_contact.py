"""AGENCY_SHARED_CONTACT: an agency keeps the phone, e-mail or registration of a revoked one.

Contract ("Audit rules", v2): fires when an agency whose licence is active
on some date on or after R shares its phone, e-mail or registration_no
with an agency whose licence was revoked or cancelled on date R. The
finding's `licence_no` is the other agency (the one to look at now); its
subject `{related_licence_no}` is the revoked one, exactly as
COI_REVOKED_PRINCIPAL. One flag per (other agency, revoked agency),
however many contacts they share.

- **Phones** are compared as full international numbers (E.164), parsed
  with `phonenumbers` with the home country (`settings.home_country`) as
  the region of a number written without a country code, so
  `01-4015011` and `+977-1-4015011` are one number, and a number one
  digit off is another. A cell may list several numbers separated by `,`
  or `;`. What `phonenumbers` cannot read as a possible number (too short
  or too long for its country, `N/A`) is compared with nothing.
- **E-mails** with case folded and surrounding spaces trimmed.
- **Registration numbers** like national ids
  (`monitor.services.matching.normalise_id`: spaces, dots, dashes and
  case removed).
- **Revocation and "active on some date >= R"**: as COI_REVOKED_PRINCIPAL
  (its `revocations`, `active_periods` and `first_active_on_or_after`: R
  is the date of the first `revoked`/`cancelled` event; the other licence
  has an active period ending on or after R, or never ending). The other
  agency may itself be revoked later; it still fires if it was active on
  or after R. An agency active only before R does not fire.

Severity **medium**: a revoked agency coming back under a new licence
with its old phone, e-mail or company registration ("phoenix" agency) is
exactly what revocation must stop, but a shared contact alone is not
proof that the same people run it (a telephone number reassigned by the
operator, an accountant or consultant who files for several agencies, a
building's switchboard); it asks an inspector to look at the ownership,
while COI_REVOKED_PRINCIPAL (high) fires when the same person is found.

Evidence: `shared_contacts`, one entry per contact shared (in the order
phone, email, registration_no): `contact`, `normalised` (the E.164
number, folded e-mail or normalised registration number), `agency_value`
and `related_agency_value` (how each side wrote it); both agencies'
names; `revoked_on`, `revocation_event` and `active_on` (the first date
on or after R on which the other licence was active). `examined` counts
the revoked agencies with a contact to compare.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.coi_revoked_principal import (
    active_periods,
    first_active_on_or_after,
    revocations,
)
from monitor.models import Agency
from monitor.services.matching import normalise_id

CODE = "AGENCY_SHARED_CONTACT"
SEVERITY = "medium"

CONTACTS = ("phone", "email", "registration_no")
_PHONE_SEPARATORS = re.compile(r"[,;]")


def phone_numbers(raw: str | None, home_country: str) -> list[str]:
    """The E.164 numbers written in a phone cell (`"01-4015011"` -> `["+97714015011"]`).

    A number without a country code is read as one of `home_country`; what
    is not a possible number is left out.
    """
    numbers = []
    for part in _PHONE_SEPARATORS.split(raw or ""):
        if not part.strip():
            continue
        try:
            parsed = phonenumbers.parse(part, home_country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            numbers.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return sorted(set(numbers))


def normalise_email(raw: str | None) -> str | None:
    """An e-mail address with case folded and spaces trimmed; None when empty."""
    cleaned = (raw or "").strip().casefold()
    return cleaned or None


def contact_keys(agency: Any, home_country: str) -> list[tuple[str, str]]:
    """(contact, normalised value) pairs of one agency row."""
    keys = [("phone", number) for number in phone_numbers(agency.phone, home_country)]
    email = normalise_email(agency.email)
    if email:
        keys.append(("email", email))
    registration = normalise_id(agency.registration_no)
    if registration:
        keys.append(("registration_no", registration))
    return keys


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per (other agency, revoked agency) sharing a contact."""
    revoked = revocations(session)
    periods = active_periods(session)
    agencies = {
        row.licence_no: row
        for row in session.execute(
            sa.select(
                Agency.licence_no, Agency.name, Agency.phone, Agency.email, Agency.registration_no
            ).order_by(Agency.licence_no)
        )
    }
    keys = {
        licence_no: contact_keys(row, settings.home_country) for licence_no, row in agencies.items()
    }
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for licence_no, agency_keys in keys.items():
        if licence_no in periods:
            for key in agency_keys:
                holders[key].append(licence_no)

    shared: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    active_on: dict[tuple[str, str], dt.date] = {}
    examined = 0
    for revoked_licence, (revoked_on, _) in sorted(revoked.items()):
        revoked_keys = keys.get(revoked_licence, [])
        examined += bool(revoked_keys)
        for key in revoked_keys:
            for other_licence in holders.get(key, ()):
                first = first_active_on_or_after(periods[other_licence], revoked_on)
                if other_licence != revoked_licence and first is not None:
                    shared[(other_licence, revoked_licence)].add(key)
                    active_on[(other_licence, revoked_licence)] = first

    findings = []
    for (other_licence, revoked_licence), pairs in sorted(shared.items()):
        revoked_on, event = revoked[revoked_licence]
        other, related = agencies[other_licence], agencies[revoked_licence]
        findings.append(
            Finding(
                licence_no=other_licence,
                subject={"related_licence_no": revoked_licence},
                evidence={
                    "shared_contacts": [
                        {
                            "contact": contact,
                            "normalised": value,
                            "agency_value": getattr(other, contact),
                            "related_agency_value": getattr(related, contact),
                        }
                        for contact, value in sorted(
                            pairs, key=lambda pair: (CONTACTS.index(pair[0]), pair[1])
                        )
                    ],
                    "agency_name": other.name,
                    "related_agency_name": related.name,
                    "revoked_on": revoked_on.isoformat(),
                    "revocation_event": event,
                    "active_on": active_on[(other_licence, revoked_licence)].isoformat(),
                },
            )
        )
    return RuleOutcome(examined=examined, findings=findings)
