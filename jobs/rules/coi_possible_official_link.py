"""COI_POSSIBLE_OFFICIAL_LINK: a person of an agency may be an official, but nothing confirms it.

The contract says a similar (or even equal) name with no birth date or id
to confirm it is not a match, so such a pair never raises
COI_OFFICIAL_LINK. A ministry still wants to know of it: this rule
(chosen where the contract is silent, documented here) reports it for a
reviewer to confirm or dismiss by asking for the missing birth date.

Fires when a person of an agency and an official (term overlapping the
agency's licensed life, exactly as in COI_OFFICIAL_LINK) have names that
score at or above `settings.name_similarity` after normalisation, a birth
date is missing on at least one side, and nothing disagrees: two
different birth dates, or two different national ids, make the pair a
decoy (same name, another person), not a possible match
(`monitor.services.matching`). An (agency, official) pair that is
already a confirmed COI_OFFICIAL_LINK through any of the agency's people
is not reported here again. Subject `{official_id}`; the finding's
`licence_no` is the agency's.

Severity **low**: a name alone identifies nobody (common names recur by
the thousand in a national registry); the flag asks for a check, not
action.

Evidence: as COI_OFFICIAL_LINK (`matched_on` is `name`), plus
`missing_date_of_birth`: which side lacks the birth date (`person`,
`official` or `both`). `examined` counts the agency people compared.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from jobs.rules.base import AuditSettings, Finding, RuleOutcome
from jobs.rules.coi_official_link import link_evidence, run_links, strongest
from monitor.memory import garbage_collection_paused
from monitor.services.matching import PersonMatch

CODE = "COI_POSSIBLE_OFFICIAL_LINK"
SEVERITY = "low"


def missing_side(match: PersonMatch) -> str:
    """Which record of the pair lacks a birth date: `person`, `official` or `both`.

    A placeholder birth date counts as lacking one (it confirms nothing).
    """
    person_lacks = match.birth_date(match.left) is None
    official_lacks = match.birth_date(match.right) is None
    if person_lacks and official_lacks:
        return "both"
    return "person" if person_lacks else "official"


def run(session: Session, settings: AuditSettings) -> RuleOutcome:
    """One finding per (agency, official) resting only on possible matches."""
    with garbage_collection_paused():
        examined, links = run_links(session, settings)
        findings = []
        for link in links:
            if link.confirmed:
                continue
            evidence = link_evidence(link)
            evidence["missing_date_of_birth"] = missing_side(strongest(link.matches))
            findings.append(
                Finding(
                    licence_no=link.licence_no,
                    subject={"official_id": link.official.official_id},
                    evidence=evidence,
                )
            )
    return RuleOutcome(examined=examined, findings=findings)
