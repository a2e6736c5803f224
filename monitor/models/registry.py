"""The registry: agencies and their licences, people, agreements, fee rules,
authorisations, officials and FX rates (contract: "Registry files").

Natural keys (licence_no, agreement_id, official_id ...) are unique and are
what the other tables refer to, so the registry files' own identifiers
join directly.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from monitor.models.base import Base, JSONType, Money, Rate, utcnow

SUPERVISORY_INSTITUTIONS = ("labour", "immigration", "consular", "police", "foreign_affairs")


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    registration_no: Mapped[str | None] = mapped_column(sa.String(64))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    email: Mapped[str | None] = mapped_column(sa.String(254))


class LicenceEvent(Base):
    """One event in a licence's life; `seq` keeps file order within a date."""

    __tablename__ = "licence_events"
    __table_args__ = (sa.UniqueConstraint("licence_no", "effective_date", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(
        sa.ForeignKey("agencies.licence_no", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(16))
    effective_date: Mapped[dt.date]
    expires: Mapped[dt.date | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    seq: Mapped[int] = mapped_column(default=0)


class AgencyPerson(Base):
    __tablename__ = "agency_people"
    __table_args__ = (sa.UniqueConstraint("licence_no", "full_name", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(
        sa.ForeignKey("agencies.licence_no", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(sa.String(300))
    role: Mapped[str] = mapped_column(sa.String(16))
    date_of_birth: Mapped[dt.date | None]
    national_id: Mapped[str | None] = mapped_column(sa.String(64))


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    origin_country: Mapped[str] = mapped_column(sa.String(2))
    destination_country: Mapped[str] = mapped_column(sa.String(2))
    title: Mapped[str] = mapped_column(sa.String(300))
    effective_from: Mapped[dt.date]
    effective_to: Mapped[dt.date | None]


class FeeRule(Base):
    """A fee cap for one occupation (or `*`) under an agreement."""

    __tablename__ = "fee_rules"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "occupation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agreements.agreement_id", ondelete="CASCADE")
    )
    occupation: Mapped[str] = mapped_column(sa.String(4))
    cap_type: Mapped[str] = mapped_column(sa.String(16))
    cap_amount: Mapped[Decimal | None] = mapped_column(Money)
    cap_currency: Mapped[str | None] = mapped_column(sa.String(3))
    # `;`-separated fee categories, as in the file (empty: none prohibited).
    prohibited_categories: Mapped[str | None] = mapped_column(sa.String(500))


class Authorisation(Base):
    """An agency's authorisation to recruit under an agreement."""

    __tablename__ = "authorisations"
    __table_args__ = (sa.UniqueConstraint("licence_no", "agreement_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_no: Mapped[str] = mapped_column(
        sa.ForeignKey("agencies.licence_no", ondelete="CASCADE"), index=True
    )
    agreement_id: Mapped[str] = mapped_column(
        sa.ForeignKey("agreements.agreement_id", ondelete="CASCADE")
    )
    valid_from: Mapped[dt.date]
    valid_to: Mapped[dt.date | None]
    annual_quota: Mapped[int | None]


class Official(Base):
    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(300))
    institution: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[str] = mapped_column(sa.String(200))
    in_office_from: Mapped[dt.date]
    in_office_to: Mapped[dt.date | None]
    date_of_birth: Mapped[dt.date | None]
    national_id: Mapped[str | None] = mapped_column(sa.String(64))


class FxRate(Base):
    __tablename__ = "fx_rates"
    __table_args__ = (sa.UniqueConstraint("currency", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[dt.date]
    currency: Mapped[str] = mapped_column(sa.String(3))
    usd_per_unit: Mapped[Decimal] = mapped_column(Rate)


class RegistryChange(Base):
    """Audit trail of registry imports: who changed which row, old and new values.

    Entries form a hash chain (`entry_hash` covers the previous entry's
    hash), so a rewritten entry is detectable.
    """

    __tablename__ = "registry_changes"
    # The agency dossier's change history: a licence's rows by key (prefix on PostgreSQL).
    __table_args__ = (
        sa.Index(
            "ix_registry_changes_row_key",
            "table_name",
            "row_key",
            "id",
            postgresql_ops={"row_key": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(sa.String(64))
    row_key: Mapped[str] = mapped_column(sa.String(300))
    action: Mapped[str] = mapped_column(sa.String(16))  # insert | update
    old_values: Mapped[dict | None] = mapped_column(JSONType)
    new_values: Mapped[dict | None] = mapped_column(JSONType)
    changed_by: Mapped[str] = mapped_column(sa.String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    source_file: Mapped[str | None] = mapped_column(sa.String(300))
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64))
