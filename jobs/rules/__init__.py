"""Audit rules: one module per rule code of the data contract.

`all_rules()` discovers them: every module of this package that defines
`CODE` (helpers such as `base` and `common` do not), sorted by code, so a
new rule is picked up by adding its module and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover_rules() -> tuple[list[ModuleType], dict[str, str]]:
    """The rule modules (sorted by code) and the modules that failed to import.

    The audit engine runs the rules it could import and records each
    broken module (module name -> error) as a failure of the run.
    """
    rules: list[ModuleType] = []
    broken: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        name = f"{__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported by the engine, never hidden
            broken[name] = f"{type(exc).__name__}: {exc}"
            continue
        if hasattr(module, "CODE"):
            rules.append(module)
    return sorted(rules, key=lambda module: module.CODE), broken


def all_rules() -> list[ModuleType]:
    """Every rule module of `jobs.rules` (those defining `CODE`), sorted by code.

    Raises ImportError naming the modules that cannot be imported.
    """
    rules, broken = discover_rules()
    if broken:
        raise ImportError("; ".join(f"{name}: {error}" for name, error in broken.items()))
    return rules
