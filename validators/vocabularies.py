"""The contract's closed vocabularies: the values a column of an upload may take.

The schemas (`validators.declarations`, `validators.registry`) check
uploads against them; the services read them too (licence events in order).
"""

from __future__ import annotations

# Declaration files: a fee's category and who reported it.
FEE_CATEGORIES = (
    "recruitment_fee",
    "service_charge",
    "documentation",
    "visa",
    "travel",
    "medical",
    "insurance",
    "skills_test",
    "training",
    "orientation",
    "accommodation",
    "other",
)
REPORTERS = ("agency", "worker")

# Registry files: licence events, the roles of an agency's people, fee cap types.
LICENCE_EVENTS = ("issued", "renewed", "suspended", "reinstated", "revoked", "cancelled")
PERSON_ROLES = ("owner", "director", "manager", "shareholder")
CAP_TYPES = ("zero", "fixed", "wage_multiple")
