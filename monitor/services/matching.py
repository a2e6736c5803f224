"""Matching people: agency people against officials, or against each other.

Contract ("Match of two people"): two records are the same person when

- their national ids are equal after `normalise_id` (spaces, dots, dashes
  and case removed), or
- their names, normalised by `normalise_name` (case-folded, diacritics and
  leading honorifics stripped, tokens sorted so their order is ignored),
  score at or above the name-similarity threshold (0-100; equal names score
  100) AND both records carry the same date of birth.

The score is rapidfuzz's `token_sort_ratio` (the Indel similarity of the
sorted tokens); "above a threshold" is read as *at or above*, so one typo
in a ten-letter name (`jose peres` vs `jose perez`, score 90) still matches
at the default threshold of 90.

A similar or equal name with no birth date or id to confirm it is never a
match. It is a *possible* match (reported by its own low-severity rule)
when one side lacks a birth date and nothing disagrees. Following
nomenklatura's qualifiers, a disagreement rules it out: two different birth
dates, or two different national ids, make an equal name a decoy, not even
a possible match.

Blocking, so that nobody is compared with everybody:

- national id: an exact join on the normalised id;
- birth date: every pair of records with the same birth date is scored
  (a confirmed name match needs equal birth dates, so nothing is missed).
  A birth date shared by so many records that its block would exceed
  `MAX_BLOCK_PAIRS` (a placeholder such as 1900-01-01) is split by
  name token within that date;
- possible matches (one side lacks a birth date): an exact join on the
  normalised name, plus blocks of records sharing a name token of 3+
  characters. A token whose block would exceed `MAX_BLOCK_PAIRS` is too
  frequent to tell people apart and is dropped (as nomenklatura drops
  frequent tokens); records then meet through a pair of such frequent
  tokens (`bahadur` + `thapa`) when that pair's block is small enough.

Candidates are scored with vectorised `rapidfuzz.process.cpdist` calls
(2 workers). Possible-match candidates (by far the most numerous: common
names recur by the thousand) are generated from integer keys and scored
in batches of about `BATCH_PAIRS` pairs, so memory stays bounded; pairs
where both records carry a national id are never possible and are not
scored there.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

# A block (records on the left x records on the right sharing one key) larger
# than this is not scored as a whole: its key is too common to tell people apart.
MAX_BLOCK_PAIRS = 250_000
# Name tokens shorter than this do not form blocks (exact name joins still apply).
MIN_TOKEN_LENGTH = 3
# Possible-match candidates are generated and scored this many pairs at a time
# (a few tens of bytes a pair while a batch is built), so memory stays bounded.
BATCH_PAIRS = 1_000_000
WORKERS = 2
# Name scores are fractions with small denominators (lengths of two names):
# distinct scores differ by far more than this.
SCORE_TOLERANCE = 1e-3

# Honorifics and titles dropped from the START of a name (repeatedly:
# "Dato' Sri Dr. Ahmad"). Words that are also common given or family names
# are deliberately absent: `sri` alone (Indonesian and Sri Lankan names),
# `tan` alone (a Chinese surname), `tun` (Burmese), `tuan` (Vietnamese),
# `kumari` (Nepali). `tan sri`, `puan sri`, `dato sri` ... are dropped as
# two-word titles.
SINGLE_WORD_TITLES = frozenset(
    {
        "mr", "mrs", "ms", "miss", "mx", "mister", "madam", "mdm", "sir", "dame",
        "dr", "doctor", "prof", "professor", "hon", "honourable", "honorable", "rev",
        "haji", "hajjah", "hajah", "hj", "hjh", "datuk", "dato", "datin", "puan",
        "encik", "shri", "shree", "smt", "shrimati", "sushri",
    }
)  # fmt: skip
TWO_WORD_TITLES = frozenset(
    {
        ("tan", "sri"), ("puan", "sri"), ("dato", "sri"), ("datuk", "sri"),
        ("dato", "seri"), ("datuk", "seri"), ("toh", "puan"), ("rt", "hon"),
    }
)  # fmt: skip

# Latin letters that carry no combining mark in Unicode, so NFKD leaves them.
_LATIN_LETTERS = str.maketrans(
    {
        "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe",
        "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n", "ƒ": "f",
    }
)  # fmt: skip
_APOSTROPHES = re.compile(r"['’‘`ʼ]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ID_SEPARATORS = re.compile(r"[\s.\-‐‑‒–—―]+")


def _is_latin(char: str) -> bool:
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


def _strip_latin_marks(text: str) -> str:
    """Drop combining marks that sit on Latin letters (é -> e), keep other scripts' marks.

    Devanagari vowel signs and viramas are combining marks too; dropping
    them would merge different names, so only marks on Latin letters go.
    """
    kept: list[str] = []
    base_is_latin = False
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char):
            if not base_is_latin:
                kept.append(char)
            continue
        base_is_latin = _is_latin(char)
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _strip_titles(tokens: list[str]) -> list[str]:
    """Drop leading honorifics; a name made only of titles is kept as it is."""
    start = 0
    while start < len(tokens):
        if tuple(tokens[start : start + 2]) in TWO_WORD_TITLES:
            start += 2
        elif tokens[start] in SINGLE_WORD_TITLES:
            start += 1
        else:
            break
    return tokens[start:] if start < len(tokens) else tokens


@lru_cache(maxsize=1_000_000)
def normalise_name(name: str | None) -> str:
    """A name reduced for comparison: `"Dr. José  PÉREZ-López"` -> `"jose lopez perez"`.

    Case-folded; diacritics of Latin letters removed (and ø, ł, đ, æ ...
    spelled out); apostrophes removed (`O'Brien` -> `obrien`); other
    punctuation separates tokens; leading honorifics (`SINGLE_WORD_TITLES`,
    `TWO_WORD_TITLES`) dropped; tokens sorted and joined by one space.
    """
    if not name:
        return ""
    text = name.casefold()
    if not text.isascii():
        text = _strip_latin_marks(text).translate(_LATIN_LETTERS)
    text = _APOSTROPHES.sub("", text)
    if text.isascii():
        text = _NOT_WORD.sub(" ", text)
    else:  # letters, digits and the marks of non-Latin scripts form words
        text = "".join(char if unicodedata.category(char)[0] in "LMN" else " " for char in text)
    tokens = text.split()
    return " ".join(sorted(_strip_titles(tokens)))


def normalise_id(value: str | None) -> str | None:
    """A national id without spaces, dots, dashes or case (`"ab-12.3 4"` -> `"AB1234"`).

    None when nothing is left.
    """
    if value is None:
        return None
    cleaned = _ID_SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()
    return cleaned or None


def mask_id(value: str | None) -> str | None:
    """A national id as evidence may show it: only its last 3 characters (`"***234"`)."""
    normalised = normalise_id(value)
    if normalised is None:
        return None
    return "***" + (normalised[-3:] if len(normalised) > 4 else "")


class Person(NamedTuple):
    """One record to compare; `key` is the caller's own reference to it.

    A named tuple: cheap to build by the hundred thousand.
    """

    key: Hashable
    full_name: str
    date_of_birth: dt.date | None = None
    national_id: str | None = None


@dataclass(frozen=True)
class PersonMatch:
    """Two records judged the same person (`confirmed`) or possibly the same.

    `matched_on` is `national_id` (ids agree), `name+date_of_birth` (similar
    names, same birth date) or `name` (a possible match: similar names, a
    birth date missing on one side).
    """

    left: Person
    right: Person
    confirmed: bool
    matched_on: str
    name_score: float

    @property
    def national_id_match(self) -> bool:
        left_id = normalise_id(self.left.national_id)
        return left_id is not None and left_id == normalise_id(self.right.national_id)

    @property
    def date_of_birth_match(self) -> bool | None:
        """Whether the birth dates agree; None when one side lacks one."""
        if self.left.date_of_birth is None or self.right.date_of_birth is None:
            return None
        return self.left.date_of_birth == self.right.date_of_birth

    def evidence(self, left_label: str, right_label: str) -> dict[str, Any]:
        """Which fields matched and how, with national ids masked.

        Labels prefix each side's fields: `evidence("person", "official")`
        gives `person_name`, `official_name`, `person_date_of_birth` ...
        """

        def side(label: str, person: Person) -> dict[str, Any]:
            birth = person.date_of_birth
            return {
                f"{label}_name": person.full_name,
                f"{label}_date_of_birth": birth.isoformat() if birth else None,
                f"{label}_national_id": mask_id(person.national_id),
            }

        return {
            "matched_on": self.matched_on,
            "name_score": round(self.name_score, 1),
            "date_of_birth_match": self.date_of_birth_match,
            "national_id_match": self.national_id_match,
            **side(left_label, self.left),
            **side(right_label, self.right),
        }


def match_people(
    left: Sequence[Person],
    right: Sequence[Person],
    *,
    threshold: int = 90,
    include_possible: bool = False,
) -> list[PersonMatch]:
    """Every pair (one record from each side) that is the same person.

    With `include_possible`, pairs that are only possibly the same person
    (similar names, one birth date missing, nothing disagreeing) come too,
    with `confirmed=False`. Pairs come in (left, right) input order.
    """
    if not left or not right:
        return []
    left_frame, right_frame = _frame(left), _frame(right)
    sides = _Sides.of(left_frame, right_frame)
    left_pos, right_pos = _candidate_pairs(left_frame, right_frame)
    kept = [_decide(sides, left_pos, right_pos, threshold=threshold, possible=False)]
    if include_possible:
        kept += [
            _decide(sides, batch_left, batch_right, threshold=threshold, possible=True)
            for batch_left, batch_right in _possible_pairs(
                left_frame, right_frame, sides, threshold=threshold
            )
        ]
    found = pd.concat(kept, ignore_index=True).sort_values(["l", "r"], kind="stable")
    return [
        PersonMatch(
            left=left[int(row.l)],
            right=right[int(row.r)],
            confirmed=row.matched_on != "name",
            matched_on=row.matched_on,
            name_score=float(row.score),
        )
        for row in found.itertuples(index=False)
    ]


@dataclass(frozen=True)
class _Sides:
    """What deciding a pair needs of each record, as arrays by position."""

    left_names: np.ndarray
    right_names: np.ndarray
    left_unnamed: np.ndarray  # the normalised name is empty
    right_unnamed: np.ndarray
    left_lengths: np.ndarray  # characters in the normalised name
    right_lengths: np.ndarray
    left_ids: np.ndarray  # national ids as integer codes shared by both sides (-1: none)
    right_ids: np.ndarray
    left_dobs: np.ndarray  # birth dates as ordinals (0: none)
    right_dobs: np.ndarray

    @classmethod
    def of(cls, left: pd.DataFrame, right: pd.DataFrame) -> _Sides:
        id_codes, _ = pd.factorize(pd.concat([left["nid"], right["nid"]]))
        id_codes = id_codes.astype(np.int32)
        left_names = left["name"].to_numpy(dtype=object)
        right_names = right["name"].to_numpy(dtype=object)
        return cls(
            left_names=left_names,
            right_names=right_names,
            left_unnamed=left_names == "",
            right_unnamed=right_names == "",
            left_lengths=np.fromiter(map(len, left_names), dtype=np.int32, count=len(left)),
            right_lengths=np.fromiter(map(len, right_names), dtype=np.int32, count=len(right)),
            left_ids=id_codes[: len(left)],
            right_ids=id_codes[len(left) :],
            left_dobs=left["dob"].to_numpy(),
            right_dobs=right["dob"].to_numpy(),
        )


def _decide(
    sides: _Sides,
    left_pos: np.ndarray,
    right_pos: np.ndarray,
    *,
    threshold: int,
    possible: bool,
) -> pd.DataFrame:
    """The pairs among the candidates that match: `l`, `r`, `matched_on`, `score`.

    Confirmed matches only, or (`possible`) possible matches only.
    """
    left_ids, right_ids = sides.left_ids[left_pos], sides.right_ids[right_pos]
    both_ids = (left_ids >= 0) & (right_ids >= 0)
    left_names, right_names = sides.left_names[left_pos], sides.right_names[right_pos]
    # The names are normalised with sorted tokens, so ratio == token_sort_ratio.
    # Scores are float32: allow for rounding so an exact 90.0 is never 89.99999.
    # A possible match needs the threshold, so lower scores need not be exact
    # (they come as 0); a national id match reports its name score whatever it is.
    cutoff = max(threshold - SCORE_TOLERANCE, 0) if possible else None
    scores = process.cpdist(
        left_names, right_names, scorer=fuzz.ratio, score_cutoff=cutoff, workers=WORKERS
    )
    scores[sides.left_unnamed[left_pos] | sides.right_unnamed[right_pos]] = 0
    same_id = both_ids & (left_ids == right_ids)
    left_dobs, right_dobs = sides.left_dobs[left_pos], sides.right_dobs[right_pos]
    both_dobs = (left_dobs > 0) & (right_dobs > 0)
    similar = scores >= threshold - SCORE_TOLERANCE
    confirmed = same_id | (similar & both_dobs & (left_dobs == right_dobs))
    keep = (~confirmed & similar & ~both_dobs & ~both_ids) if possible else confirmed
    if possible:
        matched_on: np.ndarray | str = "name"
    else:
        matched_on = np.where(same_id, "national_id", "name+date_of_birth")[keep]
    return pd.DataFrame(
        {
            "l": left_pos[keep],
            "r": right_pos[keep],
            "matched_on": matched_on,
            "score": scores[keep].astype(np.float64),
        }
    )


def _frame(people: Sequence[Person]) -> pd.DataFrame:
    """Positions, normalised names and ids, and birth dates as ordinals (0 = none)."""
    return pd.DataFrame(
        {
            "pos": np.arange(len(people), dtype=np.int64),
            "name": [normalise_name(person.full_name) for person in people],
            "nid": pd.Series([normalise_id(person.national_id) for person in people], dtype=object),
            "dob": np.fromiter(
                (p.date_of_birth.toordinal() if p.date_of_birth else 0 for p in people),
                dtype=np.int64,
                count=len(people),
            ),
        }
    )


def _candidate_pairs(left: pd.DataFrame, right: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (left, right) positions that may be confirmed matches: same id or birth date."""
    pairs = pd.concat(
        [
            _join(left[left["nid"].notna()], right[right["nid"].notna()], "nid"),
            _birth_date_pairs(left[left["dob"] > 0], right[right["dob"] > 0]),
        ],
        ignore_index=True,
    )
    return _distinct(pairs["l"].to_numpy(), pairs["r"].to_numpy(), len(right))


def _possible_pairs(
    left: pd.DataFrame, right: pd.DataFrame, sides: _Sides, *, threshold: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Distinct (left, right) positions that may be possible matches, in bounded batches.

    Only pairs with a birth date missing on one side: a left record without
    one against every right record, then a left record with one against
    right records without. Left out before scoring: pairs of records that
    both carry a national id (never possible; an equal id is found by the
    id join), and pairs whose name lengths alone keep them below the
    threshold (the Indel distance is at least the difference in length, so
    a ratio is at most `200 * shorter / (both lengths)`).
    """
    named = left["name"] != ""
    has_birth = left["dob"] > 0
    for subset, others in (
        (left[~has_birth & named], right),
        (left[has_birth & named], right[right["dob"] == 0]),
    ):
        for left_pos, right_pos in _blocked_pairs(subset, others, sides):
            left_lengths = sides.left_lengths[left_pos]
            right_lengths = sides.right_lengths[right_pos]
            reachable = 200 * np.minimum(left_lengths, right_lengths) >= (
                threshold - SCORE_TOLERANCE
            ) * (left_lengths + right_lengths)
            yield left_pos[reachable], right_pos[reachable]


def _blocked_pairs(
    left: pd.DataFrame, right: pd.DataFrame, sides: _Sides
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs sharing the exact name, a token or a usable pair of frequent tokens, in batches.

    The right side is indexed by key (positions sorted by key, so a key's
    records are one slice). Left records are taken in batches of about
    `BATCH_PAIRS` pairs (counted before duplicates are dropped; a batch is
    never cut inside one record), so memory stays bounded whatever the data.
    """
    if left.empty or right.empty:
        return
    left_pos, left_keys, right_pos, right_keys = _block_keys(left, right)
    per_key = np.bincount(
        right_keys, minlength=int(max(left_keys.max(initial=0), right_keys.max(initial=0))) + 1
    )
    key_starts = np.cumsum(per_key) - per_key
    right_by_key = right_pos[np.argsort(right_keys, kind="stable")]

    order = np.argsort(left_pos, kind="stable")
    left_pos, left_keys = left_pos[order], left_keys[order]
    sizes = per_key[left_keys]
    record_starts = np.flatnonzero(np.concatenate(([True], left_pos[1:] != left_pos[:-1])))
    record_pairs = np.add.reduceat(sizes, record_starts)
    record_batch = (np.cumsum(record_pairs) - record_pairs) // BATCH_PAIRS
    batch_starts = record_starts[np.flatnonzero(np.diff(record_batch, prepend=-1))]
    for start, stop in zip(batch_starts, [*batch_starts[1:], len(left_pos)], strict=True):
        counts = sizes[start:stop]
        into_key = np.repeat(
            key_starts[left_keys[start:stop]] - (np.cumsum(counts) - counts), counts
        )
        batch_left = np.repeat(left_pos[start:stop], counts)
        batch_right = right_by_key[into_key + np.arange(len(into_key))]
        open_pairs = (sides.left_ids[batch_left] < 0) | (sides.right_ids[batch_right] < 0)
        yield _distinct(batch_left[open_pairs], batch_right[open_pairs], len(sides.right_names))


def _distinct(
    left_pos: np.ndarray, right_pos: np.ndarray, right_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs sorted by (left, right), duplicates dropped, as int32 positions."""
    codes = left_pos.astype(np.int64) * right_count + right_pos
    codes.sort()
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))] if len(codes) else codes
    return (codes // right_count).astype(np.int32), (codes % right_count).astype(np.int32)


def _block_keys(
    left: pd.DataFrame, right: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(position, key) entries of each side: its exact name, rare tokens and frequent-token pairs.

    Keys are integers: names first, then tokens, then pairs of tokens. A
    token is frequent when its block (left entries x right entries) would
    exceed `MAX_BLOCK_PAIRS`; a pair of frequent tokens is a key when its
    own block does not.
    """
    names, _ = pd.factorize(pd.concat([left["name"], right["name"]], ignore_index=True))
    left_tokens, right_tokens = _tokens(left), _tokens(right)
    tokens, token_values = pd.factorize(
        pd.concat([left_tokens["key"], right_tokens["key"]], ignore_index=True)
    )
    left_token, right_token = tokens[: len(left_tokens)], tokens[len(left_tokens) :]
    frequent = (
        np.bincount(left_token, minlength=len(token_values))
        * np.bincount(right_token, minlength=len(token_values))
        > MAX_BLOCK_PAIRS
    )
    left_combo_pos, left_combo = _token_combinations(
        left_tokens["pos"].to_numpy()[frequent[left_token]],
        left_token[frequent[left_token]],
        len(token_values),
    )
    right_combo_pos, right_combo = _token_combinations(
        right_tokens["pos"].to_numpy()[frequent[right_token]],
        right_token[frequent[right_token]],
        len(token_values),
    )
    combos, combo_values = pd.factorize(np.concatenate([left_combo, right_combo]))
    left_combo, right_combo = combos[: len(left_combo)], combos[len(left_combo) :]
    usable = (
        np.bincount(left_combo, minlength=len(combo_values))
        * np.bincount(right_combo, minlength=len(combo_values))
        <= MAX_BLOCK_PAIRS
    )
    name_count, token_count = int(names.max(initial=-1)) + 1, len(token_values)

    def side(
        frame: pd.DataFrame,
        name_codes: np.ndarray,
        token_pos: np.ndarray,
        token_codes: np.ndarray,
        combo_pos: np.ndarray,
        combo_codes: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        rare = ~frequent[token_codes]
        wanted = usable[combo_codes]
        return (
            np.concatenate([frame["pos"].to_numpy(), token_pos[rare], combo_pos[wanted]]).astype(
                np.int32
            ),
            np.concatenate(
                [
                    name_codes,
                    name_count + token_codes[rare],
                    name_count + token_count + combo_codes[wanted],
                ]
            ).astype(np.int64),
        )

    return (
        *side(
            left,
            names[: len(left)],
            left_tokens["pos"].to_numpy(),
            left_token,
            left_combo_pos,
            left_combo,
        ),
        *side(
            right,
            names[len(left) :],
            right_tokens["pos"].to_numpy(),
            right_token,
            right_combo_pos,
            right_combo,
        ),
    )


def _token_combinations(
    positions: np.ndarray, tokens: np.ndarray, token_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each record's pairs of two different (frequent) tokens, as one integer per pair."""
    entries = pd.DataFrame({"pos": positions, "token": tokens.astype(np.int64)})
    both = entries.merge(entries, on="pos")
    both = both[both["token_x"] < both["token_y"]]
    return (
        both["pos"].to_numpy(),
        both["token_x"].to_numpy() * token_count + both["token_y"].to_numpy(),
    )


def _join(left: pd.DataFrame, right: pd.DataFrame, on: str | list[str]) -> pd.DataFrame:
    """(l, r) positions of records with equal `on` values."""
    columns = [on] if isinstance(on, str) else on
    joined = left[["pos", *columns]].merge(right[["pos", *columns]], on=columns)
    return pd.DataFrame({"l": joined["pos_x"].to_numpy(), "r": joined["pos_y"].to_numpy()})


def _block_sizes(left_keys: pd.DataFrame, right_keys: pd.DataFrame) -> pd.Series:
    """Pairs each shared key's block would hold."""
    left_counts = left_keys["key"].value_counts()
    right_counts = right_keys["key"].value_counts()
    return (left_counts * right_counts).dropna()


def _birth_date_pairs(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """Pairs with the same birth date; oversized dates are split by name token."""
    sizes = _block_sizes(left.assign(key=left["dob"]), right.assign(key=right["dob"]))
    crowded = sizes.index[sizes > MAX_BLOCK_PAIRS]
    pairs = _join(left[~left["dob"].isin(crowded)], right[~right["dob"].isin(crowded)], "dob")
    if crowded.empty:
        return pairs
    left_crowded = left[left["dob"].isin(crowded)]
    right_crowded = right[right["dob"].isin(crowded)]
    by_token = _join(
        _tokens(left_crowded, minimum=1, with_name=True),
        _tokens(right_crowded, minimum=1, with_name=True),
        ["key", "dob"],
    )
    return pd.concat([pairs, by_token], ignore_index=True)


def _tokens(
    frame: pd.DataFrame, *, minimum: int = MIN_TOKEN_LENGTH, with_name: bool = False
) -> pd.DataFrame:
    """One row per (record, name token of `minimum`+ characters), with its birth date.

    `with_name` adds the whole normalised name as one more key.
    """
    names = frame["name"].tolist()
    words = [name.split() for name in names]
    if with_name:
        words = [
            [*split, name] if name else split for split, name in zip(words, names, strict=True)
        ]
    counts = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    keys = np.array(list(itertools.chain.from_iterable(words)), dtype=object)
    long_enough = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)) >= minimum
    return pd.DataFrame(
        {
            "pos": np.repeat(frame["pos"].to_numpy(), counts)[long_enough],
            "dob": np.repeat(frame["dob"].to_numpy(), counts)[long_enough],
            "key": keys[long_enough],
        }
    )
