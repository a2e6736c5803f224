"""All models, importable from one place; `Base.metadata` is the schema Alembic checks."""

from monitor.models.accounts import ApiToken, SignInFailures, User
from monitor.models.assignment import CaseAssignment, DeclaredConflict, SecondLook, SecondLookDraw
from monitor.models.audit import (
    AuditLock,
    AuditRun,
    CaseCount,
    CorridorFeeSummary,
    Flag,
    FlagDecision,
    FlagWorker,
    LicenceFeeVersion,
    apscheduler_jobs,
)
from monitor.models.base import Base
from monitor.models.decision_log import DecisionLogEntry
from monitor.models.declarations import BatchRejection, Fee, ImportBatch, Placement
from monitor.models.registry import (
    Agency,
    AgencyPerson,
    Agreement,
    Authorisation,
    FeeRule,
    FxRate,
    LicenceEvent,
    Official,
    RegistryChange,
)
from monitor.models.sanctions import Sanction

__all__ = [
    "Agency",
    "AgencyPerson",
    "Agreement",
    "ApiToken",
    "AuditLock",
    "AuditRun",
    "Authorisation",
    "Base",
    "BatchRejection",
    "CaseAssignment",
    "CaseCount",
    "CorridorFeeSummary",
    "DecisionLogEntry",
    "DeclaredConflict",
    "Fee",
    "FeeRule",
    "Flag",
    "FlagDecision",
    "FlagWorker",
    "FxRate",
    "ImportBatch",
    "LicenceEvent",
    "LicenceFeeVersion",
    "Official",
    "Placement",
    "RegistryChange",
    "SecondLook",
    "SecondLookDraw",
    "Sanction",
    "SignInFailures",
    "User",
    "apscheduler_jobs",
]
