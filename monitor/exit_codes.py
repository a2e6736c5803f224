"""Exit codes of an import by outcome (contract: "Command line").

A module of its own, so that the command line reads them without loading
the import (pandas, Pandera) first.
"""

from __future__ import annotations

IMPORT_EXIT_CODES = {"stored": 0, "partial": 1, "refused": 2}
