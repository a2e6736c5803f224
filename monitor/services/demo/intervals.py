"""Closed day intervals (as date ordinals) and uniform picking within them.

The generator places each deployment on a day drawn from the days a
licence was active and an authorisation covered it (or, for a planted
violation, from the days it did not), so it works with lists of
`(first_day, last_day)` ordinals.
"""

from __future__ import annotations

import random
from bisect import bisect_right

Interval = tuple[int, int]


def intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    """Days in both lists (each sorted, non-overlapping)."""
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start <= end:
            result.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return result


def subtract(left: list[Interval], right: list[Interval]) -> list[Interval]:
    """Days of `left` not in `right` (each sorted, non-overlapping)."""
    result: list[Interval] = []
    for start, end in left:
        cursor = start
        for cut_start, cut_end in right:
            if cut_end < cursor or cut_start > end:
                continue
            if cut_start > cursor:
                result.append((cursor, cut_start - 1))
            cursor = max(cursor, cut_end + 1)
            if cursor > end:
                break
        if cursor <= end:
            result.append((cursor, end))
    return result


def covers(intervals: list[Interval], day: int) -> bool:
    """Whether `day` falls in one of the intervals."""
    return any(start <= day <= end for start, end in intervals)


class DayPicker:
    """Draws a day uniformly from a list of intervals."""

    __slots__ = ("starts", "cumulative", "total")

    def __init__(self, intervals: list[Interval]) -> None:
        self.starts = [start for start, _ in intervals]
        self.cumulative: list[int] = []
        total = 0
        for start, end in intervals:
            total += end - start + 1
            self.cumulative.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> int:
        offset = rng.randrange(self.total)
        index = bisect_right(self.cumulative, offset)
        before = self.cumulative[index - 1] if index else 0
        return self.starts[index] + offset - before
