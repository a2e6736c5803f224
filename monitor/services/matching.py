"""Matching people: agency people against officials, or against each other.

Contract v2 ("When two records are the same person"): two records are the
same person when

- their national ids are equal after `normalise_id` (spaces, dots, dashes
  and case removed), or
- their names score at or above the name-similarity threshold (0-100,
  `MONITOR_NAME_SIMILARITY`, default 90; equal names score 100) AND both
  records carry the same date of birth,

and never when both carry a national id and the ids differ (two people,
whatever their names and birth dates). A birth date listed as a
placeholder (`MONITOR_PLACEHOLDER_BIRTH_DATES`, default 1900-01-01 and
1970-01-01) is read as no birth date: it confirms nothing, so such a pair
is at most a possible match.

**Names in any script.** `normalise_name` first writes a name in Latin
letters (`to_latin`), then folds case, strips diacritics and leading
honorifics and sorts the words. `to_latin` is ICU's `Any-Latin` transform
(PyICU, CLDR data: every script ICU knows), with two rules of our own for
the northern Indic scripts (Devanagari, Bengali, Gurmukhi, Gujarati): a
word's final inherent vowel is dropped, as Nepali and Hindi speakers and
romanisers drop it (राम is `ram`, not ICU's `rāma`; it stays after a
conjunct: कृष्ण is `krishna`), and ICU's ISO 15919 letters take their usual
South Asian romanisation (`ś`, `ṣ` -> `sh`, `c` -> `ch`, `ch` -> `chh`,
`r̥` -> `ri`, `jñ` -> `gy`, `ṅ` -> `ng`). Before v2, names kept their
script and Devanagari marks were kept on purpose (dropping them merged
different names); now every name is compared in Latin and every mark goes.

Why PyICU (`benchmarks/transliteration_comparison.py`: Nepali, Hindi,
Arabic and Burmese names in their script against the romanisations a
clerk types; pairs reaching 90 with the score below, and mean score):

| transliteration | Nepali (25) | Hindi (13) | Arabic (14) | Burmese (6) | per name |
|---|---|---|---|---|---|
| PyICU + our Indic rules (`to_latin`) | 24, 98.7 | 12, 97.0 | 0, 69.1 | 1, 73.2 | 66 us |
| PyICU `Any-Latin` alone | 23, 94.2 | 10, 93.5 | 0, 69.1 | 1, 73.2 | 28 us |
| anyascii | 22, 92.7 | 5, 88.2 | 0, 64.0 | 0, 53.6 | 5 us |
| unidecode | 22, 93.0 | 6, 91.3 | 0, 64.3 | 0, 61.7 | 17 us |

anyascii and unidecode drop every inherent vowel (रमा शर्मा, Rama Sharma,
becomes `rma srma`), which no later rule can restore; ICU keeps them, so
only the final ones need dropping. OpenSanctions' `normality` (and
`rigour`, built on it) transliterates with PyICU itself. PyICU is built
from source on install (it needs the system's ICU: `libicu-dev`); the
cost is paid once. No library restores the short vowels that Arabic does
not write (محمد is `mhmd`, not `Muhammad`) or the word breaks Burmese does
not write: for those scripts a national id or an identical transliteration
is what links two records.

**Similarity that tolerates romanisation variants.** A name's score is
the higher of two rapidfuzz ratios (`name_scores`):

- *spelling*: `fuzz.ratio` of the normalised names (their words are
  sorted, so this is `token_sort_ratio`): typing mistakes;
- *romanisation*: the same ratio of their `romanisation_key`s: each word
  folded to one spelling of its sounds (`_FOLDS`: aspirates lose their
  `h`, `sh`/`s`, `x`/`ks`/`ksh`, `v`/`w`/`b`, `ee`/`i`, `oo`/`u`, `ou`/`au`;
  `Cya` before a consonant is `Ce`; doubled letters single; a final `a`
  after two consonants and a final `ey` after a consonant are dropped),
  after spelling out `NAME_ABBREVIATIONS` (`bdr` = `bahadur`, `pd` =
  `prasad`). So `Poudel`/`Paudel`/`Paudyal`, `Laxmi`/`Lakshmi`,
  `Bista`/`Bisht`, `Deepak`/`Dipak` score 100, while distinct names stay
  apart (`Sita`/`Gita` 75, `Ram`/`Rama` 85.7, `Hari`/`Hira` 50: the key
  keeps the vowels and drops only a final `a` after a consonant cluster).

"At or above" the threshold (inclusive): one typo in a ten-letter name
(`jose peres` / `jose perez`, 90) still matches at the default of 90.
Evidence says which comparison gave the score (`name_compared_as`), both
scores, each side's script and Latin form, and any placeholder birth date.

A similar or equal name with no birth date or id to confirm it is never a
match. It is a *possible* match (reported by its own low-severity rule)
when one side lacks a birth date (or has a placeholder) and nothing
disagrees: two different birth dates, or two national ids (equal ones
already confirm; different ones rule it out), make it a decoy.

Blocking, so that nobody is compared with everybody:

- national id: an exact join on the normalised id;
- birth date: every pair of records with the same (non-placeholder) birth
  date is scored (a confirmed name match needs equal birth dates, so
  nothing is missed). A birth date shared by so many records that its
  block would exceed `MAX_BLOCK_PAIRS` is split by folded name word
  within that date;
- possible matches (one side lacks a birth date): an exact join on the
  romanisation key, plus blocks of records sharing a folded word of 3+
  characters (`paudyal` and `poudel` share `paudel`). A word whose block
  would exceed `MAX_BLOCK_PAIRS` is too frequent to tell people apart and
  is dropped (as nomenklatura drops frequent tokens); records then meet
  through a pair of such frequent words (`bahadur` + `tapa`) when that
  pair's block is small enough.

Bounded growth (issue 7: twice the data must not take four times as
long). In the possible-match blocks a key (name, word or pair of words)
shared by more than `MAX_CANDIDATES_PER_KEY` (50) right-hand records is
skipped for the left records that have it: a name that common cannot
single one of them out. And a left record keeps at most
`MAX_POSSIBLE_PER_PERSON` (20) possible matches: the highest name scores,
then the first in input order (the rules pass officials ordered by
official_id), since a name alone cannot tell which of several equally
named officials a person is and the reviewer's question (the missing
birth date) is the same for all. Confirmed matches are never capped.
Python's cyclic garbage collector is paused while matching
(`garbage_collection_paused`): it rescanned the hundreds of thousands of
live records over and over (45% of the CPU time of a possible-match run).

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
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import icu
import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from monitor.memory import garbage_collection_paused

# A block (records on the left x records on the right sharing one key) larger
# than this is not scored as a whole: its key is too common to tell people apart.
MAX_BLOCK_PAIRS = 250_000
# A possible-match block key (name, word or pair of words) shared by more than
# this many right-hand records (officials) is skipped for the left record that
# has it: a name that common cannot single out one of them. This keeps the
# possible-match candidates of a person bounded, so matching grows linearly.
MAX_CANDIDATES_PER_KEY = 50
# A record keeps at most this many possible matches: those of the highest name
# score, then the first in input order. A name alone cannot tell which of
# several equally named officials a person is, and the reviewer's question is
# the same for all of them (the missing birth date), so more would add nothing.
MAX_POSSIBLE_PER_PERSON = 20
# Name tokens shorter than this do not form blocks (exact name joins still apply).
MIN_TOKEN_LENGTH = 3
# Possible-match candidates are generated and scored this many pairs at a time
# (a few tens of bytes a pair while a batch is built), so memory stays bounded.
BATCH_PAIRS = 1_000_000
WORKERS = 2
# Name scores are fractions with small denominators (lengths of two names):
# distinct scores differ by far more than this.
SCORE_TOLERANCE = 1e-3
# Contract v2: birth dates listed as placeholders confirm nothing.
DEFAULT_PLACEHOLDER_BIRTH_DATES = (dt.date(1900, 1, 1), dt.date(1970, 1, 1))

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

# The transliterator every non-Latin name goes through (ICU's CLDR transforms).
TRANSLITERATION = "Any-Latin"
# Latin letters that carry no combining mark in Unicode, so NFKD leaves them.
_LATIN_LETTERS = str.maketrans(
    {
        "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe",
        "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n", "ƒ": "f",
    }
)  # fmt: skip
# Apostrophes, and the half rings ICU writes for Arabic ʿayn and hamza.
_APOSTROPHES = re.compile(r"['’‘`ʼʿʾ]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ID_SEPARATORS = re.compile(r"[\s.\-‐‑‒–—―]+")

# Indic scripts (U+0900-U+0DFF, one 128-character block each, laid out alike).
# Those of the north (Devanagari, Bengali, Gurmukhi, Gujarati: U+0900-U+0AFF)
# drop a word's final inherent vowel in speech and in romanisation (राम is
# `Ram`, not ICU's `rāma`), except after a conjunct (कृष्ण is `Krishna`).
_INDIC = range(0x0900, 0x0E00)
_SCHWA_DELETING = range(0x0900, 0x0B00)
_VIRAMA, _NUKTA = 0x4D, 0x3C  # offsets inside a block
# ICU writes Indic names in ISO 15919 (`kr̥ṣṇa`, `śarmā`, `candra`); a ministry
# writes them in the usual South Asian romanisation (`Krishna`, `Sharma`,
# `Chandra`). Applied, longest first, to the NFC text of Indic names only.
_ISO_15919_TO_COMMON = {
    "r\u0325\u0304": "ri", "r\u0325": "ri", "\u1e5b": "ri", "\u1e5d": "ri",
    "l\u0325": "li", "j\u00f1": "gy", "\u1e45k": "nk", "\u1e45g": "ng", "\u1e45": "ng",
    "\u00f1": "n", "n\u0304": "n", "\u015b": "sh", "\u1e63": "sh", "ch": "chh", "c": "ch",
    "\u1e41p": "mp", "\u1e41b": "mb", "\u1e41m": "mm", "\u1e41": "n", "\u1e43": "n",
    "m\u0310": "n", "\u1e25": "",
}  # fmt: skip
_ISO_15919_PATTERN = re.compile(
    "|".join(sorted(map(re.escape, _ISO_15919_TO_COMMON), key=len, reverse=True))
)

# Romanisation variants of one name (`Poudel`/`Paudel`/`Paudyal`, `Laxmi`/
# `Lakshmi`, `Bista`/`Bisht`, `Deepak`/`Dipak`): each word of a normalised
# name is folded to one spelling. Abbreviations usual in Nepali and Indian
# registers are spelled out first.
NAME_ABBREVIATIONS = {
    "bdr": "bahadur", "pd": "prasad", "prd": "prasad", "kr": "kumar",
    "md": "mohammad", "mohd": "mohammad",
}  # fmt: skip
# One letter group for the sounds romanisers write several ways: aspirates
# lose their h (`th` = `t`: Thapa/Tapa), sibilants merge (`sh` = `s`, `x` =
# `ks` = `ksh`), `v`/`w` = `b` (Bishnu/Vishnu), long vowels written double
# are single (`ee` = `i`, `oo` = `u`), `ou` = `au` (Poudel/Paudel).
_FOLDS = {
    "chh": "c", "ksh": "ks", "ch": "c", "sh": "s", "th": "t", "dh": "d", "bh": "b",
    "ph": "p", "kh": "k", "gh": "g", "jh": "j", "aa": "a", "ee": "i", "ii": "i",
    "oo": "u", "uu": "u", "ou": "au", "x": "ks", "w": "b", "v": "b", "q": "k",
}  # fmt: skip
_FOLD_PATTERN = re.compile("|".join(sorted(_FOLDS, key=len, reverse=True)))
# `Cya` before a consonant is `Ce` (Paudyal = Paudel); doubled letters are
# single (Bhattarai = Bhatarai); a final `a` after two consonants is the
# inherent vowel some write and some drop (Bista = Bisht, Krishna = Krishn).
_YA_AS_E = re.compile(r"(?<=[^aeiou])ya(?=[^aeiouy])")
_DOUBLED = re.compile(r"(.)\1+")
_FINAL_INHERENT_A = re.compile(r"(?<=[^aeiou][^aeiou])a$")
_FINAL_EY = re.compile(r"(?<=[^aeiou])ey$")  # Pandey = Pande, Ghimirey = Ghimire


def _is_latin(char: str) -> bool:
    code = ord(char)
    return code < 0x0250 or 0x1E00 <= code <= 0x1EFF


@lru_cache(maxsize=1)
def _transliterator() -> icu.Transliterator:
    return icu.Transliterator.createInstance(TRANSLITERATION)


@lru_cache(maxsize=100_000)
def name_script(name: str | None) -> str:
    """The script a name is written in: `Latin`, or the first other script's Unicode name.

    `"राम थापा"` -> `"Devanagari"`, `"محمد"` -> `"Arabic"`, `"José"` -> `"Latin"`.
    """
    if not name or name.isascii():
        return "Latin"
    for char in name:
        if char.isalpha() and not _is_latin(char):
            return unicodedata.name(char, "UNKNOWN").split()[0].title()
    return "Latin"


def _is_consonant(code: int) -> bool:
    """Whether a code point of an Indic block is a consonant letter."""
    return 0x15 <= code % 0x80 <= 0x39 or 0x58 <= code % 0x80 <= 0x5F


def _delete_final_inherent_vowels(text: str) -> str:
    """Add a virama after every word-final bare consonant of a northern Indic script.

    A consonant written with a nukta (फ़) takes the virama after its nukta;
    one right after a virama ends a conjunct and keeps its vowel (कृष्ण).
    """
    chars: list[str] = []
    for index, char in enumerate(text):
        chars.append(char)
        code = ord(char)
        if code not in _SCHWA_DELETING:
            continue
        base = code - code % 0x80
        consonant = index
        if code % 0x80 == _NUKTA and index and _is_consonant(ord(text[index - 1])):
            consonant = index - 1
        elif not _is_consonant(code):
            continue
        following = text[index + 1] if index + 1 < len(text) else ""
        if following and unicodedata.category(following)[0] in "LM":
            continue  # a vowel sign, a nukta or the next letter of the word
        if consonant and ord(text[consonant - 1]) == base + _VIRAMA:
            continue
        chars.append(chr(base + _VIRAMA))
    return "".join(chars)


@lru_cache(maxsize=100_000)
def to_latin(name: str) -> str:
    """A name in any script written in Latin letters (`"राम थापा"` -> `"rām thāpā"`).

    ICU's `Any-Latin` transform (CLDR), after dropping the final inherent
    vowels of northern Indic words; the ISO 15919 letters of Indic names
    then take their usual romanisation (`ś`, `ṣ` -> `sh`, `c` -> `ch`,
    `r̥` -> `ri`, `jñ` -> `gy`, `ṅ` -> `ng`). Latin text comes back unchanged.
    """
    if all(_is_latin(char) or not char.isalpha() for char in name):
        return name
    indic = any(ord(char) in _INDIC for char in name)
    text = _delete_final_inherent_vowels(name) if indic else name
    latin = unicodedata.normalize("NFC", _transliterator().transliterate(text))
    if indic:
        latin = _ISO_15919_PATTERN.sub(lambda m: _ISO_15919_TO_COMMON[m.group()], latin)
    return latin


def _strip_marks(text: str) -> str:
    """Drop every combining mark (é -> e); the text is Latin by now."""
    return "".join(
        char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char)
    )


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

    Transliterated to Latin (`to_latin`: `"श्री राम थापा"` -> `"ram thapa"`);
    case-folded; diacritics removed (and ø, ł, đ, æ ... spelled out);
    apostrophes removed (`O'Brien` -> `obrien`); other punctuation separates
    tokens; leading honorifics (`SINGLE_WORD_TITLES`, `TWO_WORD_TITLES`)
    dropped; tokens sorted and joined by one space.
    """
    if not name:
        return ""
    return " ".join(sorted(_strip_titles(fold_text(name).split())))


def fold_text(text: str) -> str:
    """Text folded as names are, word order kept: `"Rozgār-Sewā"` -> `"rozgar sewa"`.

    Transliterated to Latin, case-folded, diacritics removed, apostrophes
    removed, any other run of non-letters and non-digits one space. The
    public licence check folds agency names and queries with it.
    """
    text = text.casefold()
    if not text.isascii():
        text = _strip_marks(to_latin(text).casefold()).translate(_LATIN_LETTERS)
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", text)).split())


@lru_cache(maxsize=1_000_000)
def _fold_word(word: str) -> str:
    word = NAME_ABBREVIATIONS.get(word, word)
    word = _FOLD_PATTERN.sub(lambda m: _FOLDS[m.group()], word)
    word = _DOUBLED.sub(r"\1", _YA_AS_E.sub("e", word))
    return _FINAL_EY.sub("e", _FINAL_INHERENT_A.sub("", word))


@lru_cache(maxsize=1_000_000)
def romanisation_key(normalised: str) -> str:
    """A normalised name with each word folded to one romanisation, words sorted.

    `"lakshmi devi bisht"` and `"bista devi laxmi"` -> `"bist debi laksmi"`;
    `"krishna paudyal"`, `"krishna poudel"` -> `"krisn paudel"`. Distinct
    names stay apart (`sita` / `gita`, `ram` / `rama`).
    """
    return " ".join(sorted(_fold_word(word) for word in normalised.split()))


def name_scores(left: str, right: str) -> tuple[float, float]:
    """(spelling, romanisation) scores of two raw names, 0-100.

    Spelling: rapidfuzz's ratio of the normalised names (their tokens are
    sorted, so it equals `token_sort_ratio`); romanisation: the same ratio
    of their `romanisation_key`s. A name's score is the higher of the two.
    """
    left_name, right_name = normalise_name(left), normalise_name(right)
    if not left_name or not right_name:
        return 0.0, 0.0
    return (
        fuzz.ratio(left_name, right_name),
        fuzz.ratio(romanisation_key(left_name), romanisation_key(right_name)),
    )


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
    birth date missing, or a placeholder, on one side). `name_score` is the
    higher of `spelling_score` and `romanisation_score` (`name_scores`).
    """

    left: Person
    right: Person
    confirmed: bool
    matched_on: str
    name_score: float
    spelling_score: float = 0.0
    romanisation_score: float = 0.0
    placeholder_birth_dates: frozenset[dt.date] = frozenset()

    @property
    def national_id_match(self) -> bool:
        left_id = normalise_id(self.left.national_id)
        return left_id is not None and left_id == normalise_id(self.right.national_id)

    def birth_date(self, person: Person) -> dt.date | None:
        """A record's birth date as matching reads it: None when missing or a placeholder."""
        birth = person.date_of_birth
        return None if birth in self.placeholder_birth_dates else birth

    @property
    def date_of_birth_match(self) -> bool | None:
        """Whether the birth dates agree; None when one side lacks one (or has a placeholder)."""
        left, right = self.birth_date(self.left), self.birth_date(self.right)
        if left is None or right is None:
            return None
        return left == right

    def evidence(self, left_label: str, right_label: str) -> dict[str, Any]:
        """Which fields matched and how, with national ids masked.

        Labels prefix each side's fields: `evidence("person", "official")`
        gives `person_name`, `official_name`, `person_date_of_birth` ...
        Each side's name is shown as written, with the script it is written
        in and the Latin form it was compared as (`person_name_latin`).
        """

        def side(label: str, person: Person) -> dict[str, Any]:
            birth = person.date_of_birth
            return {
                f"{label}_name": person.full_name,
                f"{label}_name_script": name_script(person.full_name),
                f"{label}_name_latin": normalise_name(person.full_name),
                f"{label}_date_of_birth": birth.isoformat() if birth else None,
                f"{label}_national_id": mask_id(person.national_id),
            }

        placeholders = []
        if self.placeholder_birth_dates:
            births = {self.left.date_of_birth, self.right.date_of_birth}
            placeholders = sorted(day.isoformat() for day in births & self.placeholder_birth_dates)
        return {
            "matched_on": self.matched_on,
            "name_score": round(self.name_score, 1),
            "name_compared_as": (
                "spelling" if self.spelling_score >= self.romanisation_score else "romanisation"
            ),
            "name_score_spelling": round(self.spelling_score, 1),
            "name_score_romanisation": round(self.romanisation_score, 1),
            "date_of_birth_match": self.date_of_birth_match,
            "placeholder_dates_of_birth": placeholders,
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
    placeholder_birth_dates: Iterable[dt.date] = DEFAULT_PLACEHOLDER_BIRTH_DATES,
) -> list[PersonMatch]:
    """Every pair (one record from each side) that is the same person.

    With `include_possible`, pairs that are only possibly the same person
    (similar names, one birth date missing or a placeholder, nothing
    disagreeing) come too, with `confirmed=False`. Two national ids that
    are both given and differ rule a pair out. Pairs come in (left, right)
    input order.
    """
    if not left or not right:
        return []
    with garbage_collection_paused():
        return _match_people(
            left, right, threshold, include_possible, frozenset(placeholder_birth_dates)
        )


def _match_people(
    left: Sequence[Person],
    right: Sequence[Person],
    threshold: int,
    include_possible: bool,
    placeholders: frozenset[dt.date],
) -> list[PersonMatch]:
    left_frame, right_frame = _frame(left, placeholders), _frame(right, placeholders)
    sides = _Sides.of(left_frame, right_frame)
    left_pos, right_pos = _candidate_pairs(left_frame, right_frame)
    kept = [_decide(sides, left_pos, right_pos, threshold=threshold, possible=False)]
    if include_possible:
        kept += [
            _best_possible(
                _decide(sides, batch_left, batch_right, threshold=threshold, possible=True)
            )
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
            name_score=max(float(row.spelling), float(row.romanisation)),
            spelling_score=float(row.spelling),
            romanisation_score=float(row.romanisation),
            placeholder_birth_dates=placeholders,
        )
        for row in found.itertuples(index=False)
    ]


@dataclass(frozen=True)
class _Sides:
    """What deciding a pair needs of each record, as arrays by position."""

    left_names: np.ndarray
    right_names: np.ndarray
    left_keys: np.ndarray  # romanisation keys of the names
    right_keys: np.ndarray
    left_unnamed: np.ndarray  # the normalised name is empty
    right_unnamed: np.ndarray
    left_lengths: np.ndarray  # characters in the normalised name
    right_lengths: np.ndarray
    left_key_lengths: np.ndarray  # characters in the romanisation key
    right_key_lengths: np.ndarray
    left_ids: np.ndarray  # national ids as integer codes shared by both sides (-1: none)
    right_ids: np.ndarray
    left_dobs: np.ndarray  # birth dates as ordinals (0: none or a placeholder)
    right_dobs: np.ndarray

    @classmethod
    def of(cls, left: pd.DataFrame, right: pd.DataFrame) -> _Sides:
        id_codes, _ = pd.factorize(pd.concat([left["nid"], right["nid"]]))
        id_codes = id_codes.astype(np.int32)
        left_names = left["name"].to_numpy(dtype=object)
        right_names = right["name"].to_numpy(dtype=object)
        left_keys = left["key"].to_numpy(dtype=object)
        right_keys = right["key"].to_numpy(dtype=object)
        return cls(
            left_names=left_names,
            right_names=right_names,
            left_keys=left_keys,
            right_keys=right_keys,
            left_unnamed=left_names == "",
            right_unnamed=right_names == "",
            left_lengths=_lengths(left_names),
            right_lengths=_lengths(right_names),
            left_key_lengths=_lengths(left_keys),
            right_key_lengths=_lengths(right_keys),
            left_ids=id_codes[: len(left)],
            right_ids=id_codes[len(left) :],
            left_dobs=left["dob"].to_numpy(),
            right_dobs=right["dob"].to_numpy(),
        )


def _lengths(texts: np.ndarray) -> np.ndarray:
    return np.fromiter(map(len, texts), dtype=np.int32, count=len(texts))


def _decide(
    sides: _Sides,
    left_pos: np.ndarray,
    right_pos: np.ndarray,
    *,
    threshold: int,
    possible: bool,
) -> pd.DataFrame:
    """The pairs among the candidates that match: `l`, `r`, `matched_on`, both scores.

    Confirmed matches only, or (`possible`) possible matches only. Two
    national ids that are both given and differ rule a pair out.
    """
    left_ids, right_ids = sides.left_ids[left_pos], sides.right_ids[right_pos]
    both_ids = (left_ids >= 0) & (right_ids >= 0)
    # The names are normalised with sorted tokens, so ratio == token_sort_ratio.
    # Scores are float32: allow for rounding so an exact 90.0 is never 89.99999.
    # A possible match needs the threshold, so lower scores need not be exact
    # (they come as 0 and are computed again for the pairs kept); a national
    # id match reports its name scores whatever they are.
    cutoff = max(threshold - SCORE_TOLERANCE, 0) if possible else None
    spelling, romanised = _pair_scores(sides, left_pos, right_pos, cutoff)
    same_id = both_ids & (left_ids == right_ids)
    left_dobs, right_dobs = sides.left_dobs[left_pos], sides.right_dobs[right_pos]
    both_dobs = (left_dobs > 0) & (right_dobs > 0)
    similar = np.maximum(spelling, romanised) >= threshold - SCORE_TOLERANCE
    confirmed = same_id | (similar & both_dobs & (left_dobs == right_dobs) & ~both_ids)
    keep = (~confirmed & similar & ~both_dobs & ~both_ids) if possible else confirmed
    if possible:
        matched_on: np.ndarray | str = "name"
        spelling, romanised = _pair_scores(sides, left_pos[keep], right_pos[keep], None)
    else:
        matched_on = np.where(same_id, "national_id", "name+date_of_birth")[keep]
        spelling, romanised = spelling[keep], romanised[keep]
    return pd.DataFrame(
        {
            "l": left_pos[keep],
            "r": right_pos[keep],
            "matched_on": matched_on,
            "spelling": spelling.astype(np.float64),
            "romanisation": romanised.astype(np.float64),
        }
    )


def _best_possible(found: pd.DataFrame) -> pd.DataFrame:
    """At most `MAX_POSSIBLE_PER_PERSON` possible matches per left record.

    The highest name scores first, then the lowest right position. A batch
    of candidates holds all of a left record's candidates of its subset, so
    this is per record.
    """
    score = np.maximum(found["spelling"].to_numpy(), found["romanisation"].to_numpy())
    order = np.lexsort((found["r"].to_numpy(), -score, found["l"].to_numpy()))
    ranked = found.iloc[order]
    return ranked[ranked.groupby("l").cumcount().to_numpy() < MAX_POSSIBLE_PER_PERSON]


def _pair_scores(
    sides: _Sides, left_pos: np.ndarray, right_pos: np.ndarray, cutoff: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Spelling and romanisation scores of the paired records (0 for an empty name)."""
    unnamed = sides.left_unnamed[left_pos] | sides.right_unnamed[right_pos]
    scores = []
    for left_texts, right_texts in (
        (sides.left_names, sides.right_names),
        (sides.left_keys, sides.right_keys),
    ):
        score = process.cpdist(
            left_texts[left_pos],
            right_texts[right_pos],
            scorer=fuzz.ratio,
            score_cutoff=cutoff,
            workers=WORKERS,
        )
        score[unnamed] = 0
        scores.append(score)
    return scores[0], scores[1]


def _frame(people: Sequence[Person], placeholders: frozenset[dt.date]) -> pd.DataFrame:
    """Positions, normalised names, their romanisation keys, ids and birth dates.

    Birth dates are ordinals; 0 when missing or a placeholder (it confirms nothing).
    """
    names = [normalise_name(person.full_name) for person in people]
    return pd.DataFrame(
        {
            "pos": np.arange(len(people), dtype=np.int64),
            "name": names,
            "key": [romanisation_key(name) for name in names],
            "nid": pd.Series([normalise_id(person.national_id) for person in people], dtype=object),
            "dob": np.fromiter(
                (
                    p.date_of_birth.toordinal()
                    if p.date_of_birth and p.date_of_birth not in placeholders
                    else 0
                    for p in people
                ),
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
    id join), and pairs whose name lengths and key lengths alone keep both
    scores below the threshold (the Indel distance is at least the
    difference in length, so a ratio is at most `200 * shorter / (both
    lengths)`).
    """
    named = left["name"] != ""
    has_birth = left["dob"] > 0
    for subset, others in (
        (left[~has_birth & named], right),
        (left[has_birth & named], right[right["dob"] == 0]),
    ):
        for left_pos, right_pos in _blocked_pairs(subset, others, sides):
            reachable = _reachable(
                sides.left_lengths[left_pos], sides.right_lengths[right_pos], threshold
            ) | _reachable(
                sides.left_key_lengths[left_pos], sides.right_key_lengths[right_pos], threshold
            )
            yield left_pos[reachable], right_pos[reachable]


def _reachable(left_lengths: np.ndarray, right_lengths: np.ndarray, threshold: int) -> np.ndarray:
    """Whether texts of these lengths can reach the threshold at all."""
    return 200 * np.minimum(left_lengths, right_lengths) >= (threshold - SCORE_TOLERANCE) * (
        left_lengths + right_lengths
    )


def _blocked_pairs(
    left: pd.DataFrame, right: pd.DataFrame, sides: _Sides
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs sharing the romanisation key, a folded word or a pair of words, in batches.

    The right side is indexed by key (positions sorted by key, so a key's
    records are one slice). A key shared by more than
    `MAX_CANDIDATES_PER_KEY` right records is skipped (it cannot single
    one of them out), so each left record has a bounded number of
    candidates. Left records are taken in batches of about `BATCH_PAIRS`
    pairs (counted before duplicates are dropped; a batch is never cut
    inside one record), so memory stays bounded whatever the data.
    """
    if left.empty or right.empty:
        return
    left_pos, left_keys, right_pos, right_keys = _block_keys(left, right)
    per_key = np.bincount(
        right_keys, minlength=int(max(left_keys.max(initial=0), right_keys.max(initial=0))) + 1
    )
    key_starts = np.cumsum(per_key) - per_key
    right_by_key = right_pos[np.argsort(right_keys, kind="stable")]

    sizes = per_key[left_keys]
    usable = (sizes > 0) & (sizes <= MAX_CANDIDATES_PER_KEY)
    left_pos, left_keys = left_pos[usable], left_keys[usable]
    if not len(left_pos):
        return
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
    """(position, key) entries of each side: its romanisation key, rare words, frequent pairs.

    Words are those of the romanisation key (folded: `paudyal` and `poudel`
    are one word). Keys are integers: whole keys first, then words, then
    pairs of words. A word is frequent when its block (left entries x right
    entries) would exceed `MAX_BLOCK_PAIRS`; a pair of frequent words is a
    key when its own block does not.
    """
    names, _ = pd.factorize(pd.concat([left["key"], right["key"]], ignore_index=True))
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
    """Pairs with the same birth date; oversized dates are split by (folded) name word."""
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
    """One row per (record, word of its romanisation key of `minimum`+ characters).

    With the record's birth date; `with_name` adds the whole key as one more.
    """
    names = frame["key"].tolist()
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
