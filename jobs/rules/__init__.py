"""Audit rules: one module per rule code of the data contract.

`all_rules()` discovers them: every module of this package that defines
`CODE` (helpers such as `base` and `common` do not), sorted by code, so a
new rule is picked up by adding its module and nothing else.
`rule_definitions()` gives every rule's one-sentence definition for the
pages, the API and the command line, read from the modules' source files
without importing them (importing a rule brings the person matching).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from functools import cache
from pathlib import Path
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


HELPER_MODULES = frozenset({"base", "common"})


@cache
def rule_definitions() -> dict[str, str]:
    """Every rule code (from its module's name) and the rule in one sentence: the
    first line of its module's docstring, without `CODE: `."""
    definitions = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name in HELPER_MODULES:
            continue
        code = info.name.upper()
        source = (Path(__path__[0]) / f"{info.name}.py").read_text(encoding="utf-8")
        docstring = (ast.get_docstring(ast.parse(source)) or "").strip()
        first = docstring.splitlines()[0] if docstring else code
        sentence = first.removeprefix(f"{code}:").strip()
        definitions[code] = sentence[:1].upper() + sentence[1:]
    return definitions
