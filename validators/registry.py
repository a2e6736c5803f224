"""Pandera schemas of the registry files (contract: "Registry files").

One `DataFrameModel` per file. Every column is read as text (see
`validators.common`): the schemas check each cell's format with checks
that word their own failures (a date written YYYY-MM-DD, an ISO code, an
amount with at most 2 decimals ...), and the import converts the cells to
dates, decimals and integers only once they are known to be valid. That
is why the models do not coerce: a coercion failure would reach the user
as `coerce_dtype('datetime64[ns]')` instead of a sentence.

Rules within one row or one file live here too: date order, `expires`
for issued/renewed events, fee-cap consistency, and unique natural keys
(a repeated key is blamed on the later line). Checks against the stored
registry (unknown licence numbers, events after a revocation) are the
import's (`monitor.services.registry_import`).

A column's `nullable=False` means the contract marks it **req**: such a
column must be in the header and filled on every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from validators.common import parse_dates, repeated_key, row_rule
from validators.vocabularies import CAP_TYPES, FEE_CATEGORIES, LICENCE_EVENTS, PERSON_ROLES

EXPIRING_EVENTS = ("issued", "renewed")


def _not_before(frame: pd.DataFrame, later: str, earlier: str) -> pd.Series:
    """False where `later` is a date before `earlier` (both given and valid)."""
    return ~(parse_dates(frame[later]) < parse_dates(frame[earlier]))


class _Template(pa.DataFrameModel):
    """Every template: no column outside the contract, cells kept as text."""

    class Config:
        strict = True
        coerce = False


class AgenciesSchema(_Template):
    """`agencies.csv`: one row per licensed recruitment agency."""

    licence_no: Series[str] = pa.Field(max_chars=64)
    name: Series[str] = pa.Field(max_chars=300)
    registration_no: Series[str] = pa.Field(nullable=True, max_chars=64)
    address: Series[str] = pa.Field(nullable=True, max_chars=500)
    phone: Series[str] = pa.Field(nullable=True, max_chars=64)
    email: Series[str] = pa.Field(nullable=True, max_chars=254, email_address=())

    @row_rule("licence_no", "repeats the licence_no of an earlier line")
    def unique_licence(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["licence_no"])


class LicenceEventsSchema(_Template):
    """`licence_events.csv`: a licence's history, in file order within a date."""

    licence_no: Series[str] = pa.Field(max_chars=64)
    event: Series[str] = pa.Field(one_of={"allowed": LICENCE_EVENTS})
    effective_date: Series[str] = pa.Field(iso_date=())
    expires: Series[str] = pa.Field(nullable=True, iso_date=())
    reason: Series[str] = pa.Field(nullable=True)

    @row_rule("expires", "is required for issued and renewed events")
    def expires_given(cls, frame: pd.DataFrame) -> pd.Series:
        return ~frame["event"].isin(EXPIRING_EVENTS) | frame["expires"].notna()

    @row_rule("expires", "is before the effective_date")
    def expires_after_effective(cls, frame: pd.DataFrame) -> pd.Series:
        return _not_before(frame, "expires", "effective_date")

    @row_rule("licence_no", "repeats the licence_no, effective_date and event of an earlier line")
    def unique_event(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["licence_no", "effective_date", "event"])


class AgencyPeopleSchema(_Template):
    """`agency_people.csv`: owners, directors, managers and shareholders."""

    licence_no: Series[str] = pa.Field(max_chars=64)
    full_name: Series[str] = pa.Field(max_chars=300)
    role: Series[str] = pa.Field(one_of={"allowed": PERSON_ROLES})
    date_of_birth: Series[str] = pa.Field(nullable=True, iso_date=())
    national_id: Series[str] = pa.Field(nullable=True, max_chars=64)

    @row_rule("full_name", "repeats the licence_no, full_name and role of an earlier line")
    def unique_person(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["licence_no", "full_name", "role"])


class AgreementsSchema(_Template):
    """`agreements.csv`: bilateral labour agreements (corridors)."""

    agreement_id: Series[str] = pa.Field(max_chars=64)
    origin_country: Series[str] = pa.Field(country_code=())
    destination_country: Series[str] = pa.Field(country_code=())
    title: Series[str] = pa.Field(max_chars=300)
    effective_from: Series[str] = pa.Field(iso_date=())
    effective_to: Series[str] = pa.Field(nullable=True, iso_date=())

    @row_rule("effective_to", "is before effective_from")
    def dates_in_order(cls, frame: pd.DataFrame) -> pd.Series:
        return _not_before(frame, "effective_to", "effective_from")

    @row_rule("destination_country", "is the same as origin_country")
    def two_countries(cls, frame: pd.DataFrame) -> pd.Series:
        return ~(frame["destination_country"] == frame["origin_country"]).fillna(False)

    @row_rule("agreement_id", "repeats the agreement_id of an earlier line")
    def unique_agreement(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["agreement_id"])


class FeeRulesSchema(_Template):
    """`fee_rules.csv`: the fee cap per agreement and occupation (`*` = any).

    Cap consistency: `zero` takes no amount (or 0); `fixed` needs an
    amount and its currency; `wage_multiple` needs an amount (the multiple
    of the monthly wage) and no currency (the wage's currency applies).
    """

    agreement_id: Series[str] = pa.Field(max_chars=64)
    occupation: Series[str] = pa.Field(occupation_code={"allow_any": True})
    cap_type: Series[str] = pa.Field(one_of={"allowed": CAP_TYPES})
    cap_amount: Series[str] = pa.Field(nullable=True, money=())
    cap_currency: Series[str] = pa.Field(nullable=True, currency_code=())
    prohibited_categories: Series[str] = pa.Field(
        nullable=True, max_chars=500, items_of={"allowed": FEE_CATEGORIES}
    )

    @row_rule("cap_amount", "must be empty or 0 for a zero cap")
    def zero_cap_amount(cls, frame: pd.DataFrame) -> pd.Series:
        amount = pd.to_numeric(frame["cap_amount"], errors="coerce")
        wrong = (frame["cap_type"] == "zero") & frame["cap_amount"].notna() & (amount != 0)
        return ~wrong.fillna(False)

    @row_rule("cap_amount", "is required for fixed and wage_multiple caps")
    def amount_given(cls, frame: pd.DataFrame) -> pd.Series:
        needs = frame["cap_type"].isin(["fixed", "wage_multiple"])
        return ~needs | frame["cap_amount"].notna()

    @row_rule("cap_currency", "is required for a fixed cap")
    def fixed_currency(cls, frame: pd.DataFrame) -> pd.Series:
        return ~(frame["cap_type"] == "fixed").fillna(False) | frame["cap_currency"].notna()

    @row_rule("cap_currency", "must be empty for a wage_multiple cap (the wage's currency applies)")
    def multiple_without_currency(cls, frame: pd.DataFrame) -> pd.Series:
        wrong = (frame["cap_type"] == "wage_multiple").fillna(False) & frame["cap_currency"].notna()
        return ~wrong

    @row_rule("occupation", "repeats the agreement_id and occupation of an earlier line")
    def unique_rule(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["agreement_id", "occupation"])


class AuthorisationsSchema(_Template):
    """`authorisations.csv`: which agency may recruit under which agreement, when."""

    licence_no: Series[str] = pa.Field(max_chars=64)
    agreement_id: Series[str] = pa.Field(max_chars=64)
    valid_from: Series[str] = pa.Field(iso_date=())
    valid_to: Series[str] = pa.Field(nullable=True, iso_date=())
    annual_quota: Series[str] = pa.Field(nullable=True, whole_number=())

    @row_rule("valid_to", "is before valid_from")
    def dates_in_order(cls, frame: pd.DataFrame) -> pd.Series:
        return _not_before(frame, "valid_to", "valid_from")

    @row_rule(
        "valid_from", "repeats the licence_no, agreement_id and valid_from of an earlier line"
    )
    def unique_authorisation(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["licence_no", "agreement_id", "valid_from"])


class OfficialsSchema(_Template):
    """`officials.csv`: public officials and their terms of office."""

    official_id: Series[str] = pa.Field(max_chars=64)
    full_name: Series[str] = pa.Field(max_chars=300)
    institution: Series[str] = pa.Field(max_chars=100)
    position: Series[str] = pa.Field(max_chars=200)
    in_office_from: Series[str] = pa.Field(iso_date=())
    in_office_to: Series[str] = pa.Field(nullable=True, iso_date=())
    date_of_birth: Series[str] = pa.Field(nullable=True, iso_date=())
    national_id: Series[str] = pa.Field(nullable=True, max_chars=64)

    @row_rule("in_office_to", "is before in_office_from")
    def term_in_order(cls, frame: pd.DataFrame) -> pd.Series:
        return _not_before(frame, "in_office_to", "in_office_from")

    @row_rule("official_id", "repeats the official_id of an earlier line")
    def unique_official(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["official_id"])


class FxRatesSchema(_Template):
    """`fx_rates.csv`: USD per unit of a currency on a date."""

    date: Series[str] = pa.Field(iso_date=())
    currency: Series[str] = pa.Field(currency_code=())
    usd_per_unit: Series[str] = pa.Field(positive_rate=())

    @row_rule("currency", "repeats the date and currency of an earlier line")
    def unique_rate(cls, frame: pd.DataFrame) -> pd.Series:
        return repeated_key(frame, ["currency", "date"])


@dataclass(frozen=True)
class RegistryTemplate:
    """A registry file: its name, schema, natural key and columns."""

    filename: str
    schema: type[pa.DataFrameModel]
    key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return list(self.schema.to_schema().columns)

    @property
    def required_columns(self) -> list[str]:
        return [
            name for name, column in self.schema.to_schema().columns.items() if not column.nullable
        ]


# In dependency order: a file's references point to files listed before it.
REGISTRY_TEMPLATES: tuple[RegistryTemplate, ...] = (
    RegistryTemplate("agencies.csv", AgenciesSchema, ("licence_no",)),
    RegistryTemplate("agreements.csv", AgreementsSchema, ("agreement_id",)),
    RegistryTemplate(
        "licence_events.csv", LicenceEventsSchema, ("licence_no", "effective_date", "event")
    ),
    RegistryTemplate("agency_people.csv", AgencyPeopleSchema, ("licence_no", "full_name", "role")),
    RegistryTemplate("fee_rules.csv", FeeRulesSchema, ("agreement_id", "occupation")),
    RegistryTemplate(
        "authorisations.csv", AuthorisationsSchema, ("licence_no", "agreement_id", "valid_from")
    ),
    RegistryTemplate("officials.csv", OfficialsSchema, ("official_id",)),
    RegistryTemplate("fx_rates.csv", FxRatesSchema, ("currency", "date")),
)
