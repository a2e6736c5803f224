"""The penalty schedule of the suspension review: a TOML file of bands.

The monitor ships a documented default (`penalty_schedule.default.toml`
beside this module); a ministry puts its own as `penalty_schedule.toml` in
the instance folder, which then replaces the default whole
(`configured_path`). The file is read for every recommendation, so an edit
applies at once. Its format:

- `title` (text): what the schedule is;
- `cancel_at_total_months` (integer >= 1): when the months of suspension
  approved before plus the months recommended now reach it, the
  recommendation is a cancellation;
- `[[bands]]`, at least one, by increasing `min_violations` (integer >= 1):
  the band with the highest `min_violations` not above the number of
  violations applies; its `months` (a list of integers >= 1) is the
  suspension for a first offence, a second ..., the last figure for every
  later offence.

Anything else in the file (an unknown key, a wrong type, bands out of
order) is refused with a `ScheduleError` that names the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("penalty_schedule.default.toml")
INSTANCE_FILE = "penalty_schedule.toml"


class ScheduleError(ValueError):
    """The penalty schedule file cannot be used (one sentence naming the file and key)."""


@dataclass(frozen=True)
class Band:
    """Months of suspension from `min_violations` violations on, per offence."""

    min_violations: int
    months: tuple[int, ...]

    def months_for(self, offence: int) -> int:
        """The suspension of the `offence`-th offence (1 = first)."""
        return self.months[min(offence, len(self.months)) - 1]


@dataclass(frozen=True)
class PenaltySchedule:
    """The schedule as read from its file."""

    title: str
    cancel_at_total_months: int
    bands: tuple[Band, ...]
    source: str

    def band_for(self, violations: int) -> Band | None:
        """The band that applies to this many violations (None below the first)."""
        found = None
        for band in self.bands:
            if band.min_violations <= violations:
                found = band
        return found


def configured_path(instance_path: str | Path) -> Path:
    """The instance folder's `penalty_schedule.toml` if there is one, else the default."""
    own = Path(instance_path) / INSTANCE_FILE
    return own if own.is_file() else DEFAULT_PATH


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(f"{where} must be a whole number of at least 1, not {value!r}.")
    return value


def parse_schedule(text: str, source: str) -> PenaltySchedule:
    """The schedule in `text` (TOML); ScheduleError if it is not one."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{source} is not valid TOML: {exc}.") from exc
    unknown = sorted(set(data) - {"title", "cancel_at_total_months", "bands"})
    if unknown:
        raise ScheduleError(f"{source}: unknown key {unknown[0]!r}.")
    title = data.get("title", "Penalty schedule")
    if not isinstance(title, str):
        raise ScheduleError(f"{source}: title must be text.")
    if "cancel_at_total_months" not in data:
        raise ScheduleError(f"{source}: cancel_at_total_months is missing.")
    cancel_at = _positive_int(data["cancel_at_total_months"], f"{source}: cancel_at_total_months")
    raw_bands = data.get("bands")
    if not isinstance(raw_bands, list) or not raw_bands:
        raise ScheduleError(f"{source}: at least one [[bands]] table is needed.")
    bands: list[Band] = []
    for number, raw in enumerate(raw_bands, start=1):
        where = f"{source}: band {number}"
        if not isinstance(raw, dict):
            raise ScheduleError(f"{where} must be a table.")
        extra = sorted(set(raw) - {"min_violations", "months"})
        if extra:
            raise ScheduleError(f"{where}: unknown key {extra[0]!r}.")
        minimum = _positive_int(raw.get("min_violations"), f"{where}: min_violations")
        months = raw.get("months")
        if not isinstance(months, list) or not months:
            raise ScheduleError(f"{where}: months must be a list such as [2, 4].")
        if bands and minimum <= bands[-1].min_violations:
            raise ScheduleError(f"{where}: min_violations must grow from band to band.")
        bands.append(
            Band(minimum, tuple(_positive_int(m, f"{where}: each of months") for m in months))
        )
    return PenaltySchedule(title, cancel_at, tuple(bands), source)


def load_schedule(path: Path = DEFAULT_PATH) -> PenaltySchedule:
    """Read and check the schedule file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScheduleError(f"{path} cannot be read: {exc.strerror or exc}.") from exc
    return parse_schedule(text, str(path))
