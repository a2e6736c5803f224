"""What every audit rule shares: its settings, its findings and its outcome.

A rule is a module in `jobs.rules` with

- `CODE` (the contract's rule code), `SEVERITY` (`high`/`medium`/`low`)
  and a docstring citing the contract and saying why that severity;
- `run(session, settings) -> RuleOutcome`: set-based queries that return
  how many rows were examined and the findings (one per flag subject).

The audit engine (`jobs.audit`) turns findings into flags: same rule and
subject = same flag (its `last_seen` moves); an open flag not found again
is cleared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from monitor.canonical import flag_key, flag_key_prefix
from monitor.config import placeholder_birth_dates
from monitor.services.matching import DEFAULT_PLACEHOLDER_BIRTH_DATES


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds of the contract's rules (contract defaults) and the home country."""

    home_country: str = "NP"
    fee_cap_tolerance: Decimal = Decimal("0.005")
    underdeclared_ratio: Decimal = Decimal("0.10")
    underdeclared_min_usd: Decimal = Decimal("25")
    outlier_min_placements: int = 20
    outlier_z: Decimal = Decimal("3.5")
    duplicate_worker_days: int = 365
    name_similarity: int = 90
    # Birth dates that confirm no match (contract: placeholders).
    placeholder_birth_dates: tuple[dt.date, ...] = DEFAULT_PLACEHOLDER_BIRTH_DATES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuditSettings:
        """Build from the app config (`MONITOR_*` settings)."""
        return cls(
            home_country=str(config["HOME_COUNTRY"]),
            fee_cap_tolerance=Decimal(str(config["FEE_CAP_TOLERANCE"])),
            underdeclared_ratio=Decimal(str(config["UNDERDECLARED_RATIO"])),
            underdeclared_min_usd=Decimal(str(config["UNDERDECLARED_MIN_USD"])),
            outlier_min_placements=int(config["OUTLIER_MIN_PLACEMENTS"]),
            outlier_z=Decimal(str(config["OUTLIER_Z"])),
            duplicate_worker_days=int(config["DUPLICATE_WORKER_DAYS"]),
            name_similarity=int(config["NAME_SIMILARITY"]),
            placeholder_birth_dates=placeholder_birth_dates(
                config.get("PLACEHOLDER_BIRTH_DATES", DEFAULT_PLACEHOLDER_BIRTH_DATES)
            ),
        )


@dataclass(slots=True)
class Finding:
    """One flag's worth of evidence: who, about what, and the figures that fired it.

    `subject` holds exactly the rule's contract subject keys; evidence
    values are JSON-safe (money as strings with two decimals). A plain
    slotted dataclass: rules make them by the hundred thousand.
    """

    licence_no: str | None
    subject: dict[str, Any]
    evidence: dict[str, Any] = field(default_factory=dict)
    partner_country: str | None = None
    workers_affected: int = 1

    def key(self, rule: str) -> str:
        """The identity of the flag this finding raises (`monitor.canonical.flag_key`)."""
        return flag_key(
            rule, self.subject, licence_no=self.licence_no, partner_country=self.partner_country
        )

    def key_prefix(self, rule: str) -> str:
        """`rule|partner|licence|`: the part of `key` before the subject JSON."""
        return flag_key_prefix(
            rule, self.subject, licence_no=self.licence_no, partner_country=self.partner_country
        )


@dataclass
class RuleOutcome:
    """What one rule run examined and found.

    `findings` may be a generator that streams them (a rule that fires on
    most placements should not hold them all); such a rule may fill in
    `examined` when its generator ends: the engine reads it only after it
    has taken every finding.
    """

    examined: int
    findings: Iterable[Finding]


_CENT = Decimal("0.01")


@lru_cache(maxsize=65_536)
def money(value: Decimal | float | int | None) -> str | None:
    """Format an amount for evidence: a string with two decimals."""
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(_CENT))
