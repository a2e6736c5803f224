"""Person matching (contract: "Match of two people"): normalisation, decisions, blocking."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from rapidfuzz import fuzz

from monitor.services import matching
from monitor.services.matching import (
    Person,
    mask_id,
    match_people,
    normalise_id,
    normalise_name,
)

BORN = dt.date(1975, 6, 15)
OFFICIAL = Person("official", "José Pérez", BORN)


def decide(left: Person, right: Person, *, threshold: int = 90) -> str | None:
    """`confirmed`, `possible` or None for one pair."""
    found = match_people([left], [right], threshold=threshold, include_possible=True)
    if not found:
        return None
    (match,) = found
    return "confirmed" if match.confirmed else "possible"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("José Pérez", "jose perez"),
        ("  PEREZ,   jose ", "jose perez"),
        ("Dr. José Pérez-López", "jose lopez perez"),
        ("Dato' Sri Haji Ahmad bin Ali", "ahmad ali bin"),
        ("Tan Sri Tan Wei Ming", "ming tan wei"),
        ("Mrs. Sri Mulyani", "mulyani sri"),
        ("Shri Ram Bahadur Thapa", "bahadur ram thapa"),
        ("Łukasz Øster-Ærø", "aero lukasz oster"),
        ("Seán O'Brien", "obrien sean"),
        ("राम बहादुर थापा", "bahadur ram thapa"),  # contract v2: transliterated
        ("Dr", "dr"),
        ("", ""),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


def test_title_words_that_are_also_names_are_kept() -> None:
    # `Tan` (a surname) and `Sri` (a given name) are only dropped inside a title.
    assert normalise_name("Tan Ah Kow") == "ah kow tan"
    assert normalise_name("Sri Devi") == "devi sri"
    assert normalise_name("Tan Sri Ah Kow") == "ah kow"


@pytest.mark.parametrize(
    "raw", ["AB-123.456 7", "ab1234567", " ab 123-456.7 ", "AB–123–4567", "Ａｂ1234567"]
)
def test_normalise_id_removes_spaces_dots_dashes_and_case(raw: str) -> None:
    assert normalise_id(raw) == "AB1234567"


def test_normalise_id_of_nothing() -> None:
    assert normalise_id(None) is None
    assert normalise_id(" - . ") is None


def test_mask_id_shows_only_the_last_three_characters() -> None:
    assert mask_id("ab-123-456-789") == "***789"
    assert mask_id("1234") == "***"
    assert mask_id(None) is None


@pytest.mark.parametrize(
    "variant",
    [
        "Jose Perez",  # diacritics
        "Perez Jose",  # token order
        "Dr. Jose Perez",  # honorific
        "Jose Peres",  # one typo (score 90, the default threshold)
        "  JOSE,  PÉREZ. ",  # case, spaces, punctuation
        "Mr José-Pérez",
    ],
)
def test_name_variants_with_equal_birth_date_match(variant: str) -> None:
    (match,) = match_people([Person("person", variant, BORN)], [OFFICIAL])
    assert match.confirmed
    assert match.matched_on == "name+date_of_birth"
    assert match.name_score >= 90


def test_one_typo_is_exactly_at_the_default_threshold() -> None:
    person = Person("person", "Jose Peres", BORN)
    assert decide(person, OFFICIAL, threshold=90) == "confirmed"
    assert decide(person, OFFICIAL, threshold=91) is None


@pytest.mark.parametrize("national_id", ["AB-123.456", "ab123456", "ab 123 456", "Ab.123-456"])
def test_national_id_match_needs_no_birth_date_nor_similar_name(national_id: str) -> None:
    person = Person("person", "Joseph P. Smith", None, national_id)
    official = Person("official", "José Pérez", None, "AB123456")
    (match,) = match_people([person], [official])
    assert match.confirmed
    assert match.matched_on == "national_id"
    assert match.national_id_match


def test_same_name_other_birth_date_is_a_decoy_not_even_possible() -> None:
    assert decide(Person("person", "José Pérez", dt.date(1980, 1, 1)), OFFICIAL) is None


def test_same_name_different_national_ids_is_a_decoy() -> None:
    person = Person("person", "José Pérez", None, "X-1")
    official = Person("official", "José Pérez", None, "Y-2")
    assert decide(person, official) is None


@pytest.mark.parametrize("side", ["person", "official", "both"])
def test_equal_name_without_birth_date_is_only_possible(side: str) -> None:
    person = Person("person", "Jose Perez", None if side != "official" else BORN)
    official = Person("official", "José Pérez", None if side != "person" else BORN)
    assert decide(person, official) == "possible"
    assert match_people([person], [official]) == []


def test_similar_name_below_threshold_is_no_match() -> None:
    # Two typos in a ten-letter name: 80.
    assert decide(Person("person", "Josa Peres", BORN), OFFICIAL) is None
    assert decide(Person("person", "Josa Peres", None), OFFICIAL) is None


def test_equal_birth_date_alone_is_no_match() -> None:
    assert decide(Person("person", "Maria Gonzalez", BORN), OFFICIAL) is None


def test_id_match_wins_over_disagreeing_birth_dates() -> None:
    # The contract's "or": an equal national id is a match on its own.
    person = Person("person", "Jose Perez", dt.date(1990, 1, 1), "P-77")
    official = Person("official", "José Pérez", BORN, "p77")
    (match,) = match_people([person], [official])
    assert match.matched_on == "national_id"
    assert match.date_of_birth_match is False


def test_evidence_says_what_matched_and_masks_national_ids() -> None:
    person = Person("person", "Dr. Jose Perez", BORN, "NP-12-345-6789")
    official = Person("official", "José Pérez", BORN, "np1234567 89")
    (match,) = match_people([person], [official])
    evidence = match.evidence("person", "official")
    assert evidence == {
        "matched_on": "national_id",
        "name_score": 100.0,
        "name_compared_as": "spelling",
        "name_score_spelling": 100.0,
        "name_score_romanisation": 100.0,
        "date_of_birth_match": True,
        "placeholder_dates_of_birth": [],
        "national_id_match": True,
        "person_name": "Dr. Jose Perez",
        "person_name_script": "Latin",
        "person_name_latin": "jose perez",
        "person_date_of_birth": "1975-06-15",
        "person_national_id": "***789",
        "official_name": "José Pérez",
        "official_name_script": "Latin",
        "official_name_latin": "jose perez",
        "official_date_of_birth": "1975-06-15",
        "official_national_id": "***789",
    }
    assert "12345" not in json.dumps(evidence)


def test_matches_come_in_input_order_across_many_records() -> None:
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    names = [f"{first} {second}" for first in words for second in words if first < second]
    left = [Person(f"p{n}", name.title(), BORN) for n, name in enumerate(names)]
    right = [
        Person(f"o{n}", " ".join(reversed(name.split())), BORN)
        for n, name in reversed(list(enumerate(names)))
    ]
    found = match_people(left, right)
    assert [(m.left.key, m.right.key) for m in found] == [
        (f"p{n}", f"o{n}") for n in range(len(names))
    ]


def test_frequent_tokens_do_not_form_blocks_but_token_pairs_still_meet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With a block budget of 4 pairs, `ram` and `bahadur` (each on 6 officials)
    # are too frequent to block on, and the typo leaves no rarer shared token:
    # the two records meet only through the pair `bahadur+ram`.
    monkeypatch.setattr(matching, "MAX_BLOCK_PAIRS", 4)
    crowd = [Person(f"r{n}", f"Ram Gurung{n}", None) for n in range(5)]
    crowd += [Person(f"b{n}", f"Bahadur Tamang{n}", None) for n in range(5)]
    target = Person("target", "Ram Bahadur Thapaa", None)
    person = Person("person", "Ram Bahadur Thapaax", None)
    found = match_people([person], [*crowd, target], include_possible=True)
    assert [(m.right.key, m.confirmed) for m in found] == [("target", False)]


def test_crowded_birth_date_still_finds_the_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # A birth date shared by everyone is split by name token. (Not one of the
    # placeholder dates, which confirm nothing since contract v2.)
    monkeypatch.setattr(matching, "MAX_BLOCK_PAIRS", 10)
    placeholder = dt.date(1985, 1, 1)
    officials = [Person(f"o{n}", f"Official{n:02d} Someone", placeholder) for n in range(20)]
    officials.append(Person("target", "Kamala Devi Shrestha", placeholder))
    people = [Person(f"p{n}", f"Agent{n:02d} Other", placeholder) for n in range(5)] + [
        Person("person", "Shrestha Kamala Devi", placeholder)
    ]
    found = match_people(people, officials)
    assert [(m.left.key, m.right.key) for m in found] == [("person", "target")]


def test_empty_inputs() -> None:
    assert match_people([], [OFFICIAL]) == []
    assert match_people([OFFICIAL], []) == []
    assert match_people([Person("x", "", BORN)], [Person("y", "", BORN)]) == []


def test_possible_matches_are_scored_in_bounded_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # 41 people without a birth date, all sharing the token `thapa` with 31
    # officials: 1,271 candidate pairs. With a batch budget of 100 pairs, no
    # call to the scorer sees more than one batch (100 pairs plus the last
    # record's 31), and the matches are exactly those found in one batch.
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    people = [Person(f"p{n:02d}", f"{words[n % 9]} Thapa", None) for n in range(40)]
    people.append(Person("with-id", "Alpha Thapa", None, "NP-2"))
    officials = [Person(f"o{n:02d}", f"Thapa {words[n % 9].upper()}", BORN) for n in range(30)]
    officials.append(Person("id-decoy", "Alpha Thapa", None, "NP-1"))
    unbatched = match_people(people, officials, include_possible=True)

    scored: list[int] = []
    cpdist = matching.process.cpdist

    def counting_cpdist(queries: Any, choices: Any, **kwargs: Any) -> Any:
        scored.append(len(queries))
        return cpdist(queries, choices, **kwargs)

    monkeypatch.setattr(matching, "BATCH_PAIRS", 100)
    monkeypatch.setattr(matching.process, "cpdist", counting_cpdist)
    batched = match_people(people, officials, include_possible=True)
    assert batched == unbatched
    assert len(scored) > 1
    assert max(scored) <= 100 + len(officials)
    # Equal names only (other words score far below 90); two ids rule out
    # `with-id` against `id-decoy`.
    expected = [
        (person.key, official.key)
        for person in people
        for official in officials
        if normalise_name(person.full_name) == normalise_name(official.full_name)
        and (person.key, official.key) != ("with-id", "id-decoy")
    ]
    assert len(expected) == 144
    assert [(m.left.key, m.right.key) for m in batched] == expected
    assert all(not m.confirmed and m.matched_on == "name" for m in batched)


def test_national_id_match_reports_the_real_name_score() -> None:
    # The ids decide; the evidence still says how far apart the names are.
    person = Person("person", "Joseph Smith", None, "AB-1")
    official = Person("official", "Joe Smithson", None, "ab1")
    (match,) = match_people([person], [official], include_possible=True)
    assert match.matched_on == "national_id"
    assert match.spelling_score == pytest.approx(
        fuzz.ratio(normalise_name(person.full_name), normalise_name(official.full_name))
    )
    assert match.name_score == max(match.spelling_score, match.romanisation_score)
    assert 0 < match.name_score < 90  # below the threshold, still reported


# --- contract v2: scripts, romanisation variants, ids that disagree, placeholders ---


@pytest.mark.parametrize(
    ("native", "latin"),
    [
        ("राम बहादुर थापा", "bahadur ram thapa"),  # final inherent vowels dropped
        ("कृष्ण प्रसाद पौडेल", "krishna paudel prasad"),  # kept after a conjunct
        ("लक्ष्मी देवी बिष्ट", "bishta devi lakshmi"),
        ("श्री दीपक श्रेष्ठ", "dipak shreshtha"),  # श्री is an honorific
        ("सीता गुरुङ", "gurung sita"),
        ("ज्ञानेन्द्र चन्द्र", "chandra gyanendra"),
    ],
)
def test_devanagari_names_are_transliterated_to_their_usual_romanisation(
    native: str, latin: str
) -> None:
    assert normalise_name(native) == latin
    assert matching.name_script(native) == "Devanagari"


def test_other_scripts_are_transliterated_too() -> None:
    assert normalise_name("Иван Петров").split() == ["ivan", "petrov"]
    assert normalise_name("محمد").isascii() and normalise_name("محمد")
    assert normalise_name("မောင်မောင်").isascii()
    assert matching.name_script("محمد") == "Arabic"
    assert matching.name_script("José") == "Latin"


@pytest.mark.parametrize(
    "romanised", ["Laxmi Devi Bista", "Lakshmi Devi Bisht", "BISHT, Lakshmi Devi"]
)
def test_a_devanagari_name_matches_its_romanisations_with_an_equal_birth_date(
    romanised: str,
) -> None:
    official = Person("official", "लक्ष्मी देवी बिष्ट", BORN)
    (match,) = match_people([Person("person", romanised, BORN)], [official])
    assert match.confirmed and match.matched_on == "name+date_of_birth"
    evidence = match.evidence("person", "official")
    assert evidence["official_name_script"] == "Devanagari"
    assert evidence["official_name_latin"] == "bishta devi lakshmi"
    assert evidence["person_name_script"] == "Latin"
    assert evidence["name_score"] >= 90


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Krishna Prasad Poudel", "Krishna Prasad Paudel"),
        ("Krishna Prasad Poudel", "Krishna Prasad Paudyal"),
        ("Laxmi Thapa", "Lakshmi Thapa"),
        ("Ram Bista", "Ram Bisht"),
        ("Deepak KC", "Dipak KC"),
        ("Bishnu Thapa", "Vishnu Thapa"),
        ("Hari Bahadur Thapa", "Hari Bdr. Thapa"),
    ],
)
def test_romanisation_variants_match_with_an_equal_birth_date(left: str, right: str) -> None:
    (match,) = match_people([Person("person", left, BORN)], [Person("official", right, BORN)])
    assert match.confirmed
    assert match.evidence("person", "official")["name_compared_as"] == "romanisation"
    assert match.romanisation_score >= 90


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Sita", "Gita"),
        ("Ram", "Rama"),
        ("Ram", "रमा"),
        ("Sita Sharma", "Gita Sharma"),
        ("Sita Sharma", "Sita Verma"),
        ("Ram Thapa", "Rima Thapa"),
        ("Hari Thapa", "Hira Thapa"),
        ("Mahesh Gurung", "Ganesh Gurung"),
        ("Anita Rai", "Amita Rai"),
    ],
)
def test_distinct_names_do_not_collide(left: str, right: str) -> None:
    assert max(matching.name_scores(left, right)) < 90
    assert decide(Person("person", left, BORN), Person("official", right, BORN)) is None


def test_romanisation_key_folds_variants_and_keeps_names_apart() -> None:
    key = matching.romanisation_key
    assert key("krishna poudel") == key("krishna paudyal") == key("krisna paudel")
    assert key("bista laxmi") == key("bisht lakshmi")
    assert key("ram") != key("rama") and key("sita") != key("gita")


def test_equal_name_and_birth_date_with_different_national_ids_is_no_match() -> None:
    person = Person("person", "José Pérez", BORN, "NP-1111")
    official = Person("official", "José Pérez", BORN, "NP-2222")
    assert decide(person, official) is None
    # Ids equal once normalised still confirm.
    assert decide(person, official._replace(national_id="np 1111")) == "confirmed"
    # One id missing: the name and birth date decide.
    assert decide(person, official._replace(national_id=None)) == "confirmed"


@pytest.mark.parametrize("placeholder", [dt.date(1900, 1, 1), dt.date(1970, 1, 1)])
def test_a_placeholder_birth_date_confirms_nothing(placeholder: dt.date) -> None:
    person = Person("person", "José Pérez", placeholder)
    official = Person("official", "José Pérez", placeholder)
    assert match_people([person], [official]) == []
    (possible,) = match_people([person], [official], include_possible=True)
    assert not possible.confirmed and possible.matched_on == "name"
    evidence = possible.evidence("person", "official")
    assert evidence["date_of_birth_match"] is None
    assert evidence["placeholder_dates_of_birth"] == [placeholder.isoformat()]
    # A placeholder against a real date neither confirms nor rules out.
    assert decide(person, official._replace(date_of_birth=BORN)) == "possible"


def test_placeholder_birth_dates_are_a_setting() -> None:
    person = Person("person", "José Pérez", dt.date(1900, 1, 1))
    official = Person("official", "José Pérez", dt.date(1900, 1, 1))
    (match,) = match_people([person], [official], placeholder_birth_dates=())
    assert match.confirmed
    other = Person("person", "José Pérez", BORN)
    assert (
        match_people(
            [other], [OFFICIAL._replace(date_of_birth=BORN)], placeholder_birth_dates=[BORN]
        )
        == []
    )


def test_possible_matches_per_person_are_capped_by_score_then_input_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(matching, "MAX_POSSIBLE_PER_PERSON", 3)
    officials = [Person(f"o{n}", "Ram Bahadur Thapa", BORN) for n in range(6)]
    officials.insert(2, Person("typo", "Ram Bahadur Thapx", BORN))
    found = match_people(
        [Person("person", "Ram Bahadur Thapa", None)], officials, include_possible=True
    )
    assert [m.right.key for m in found] == ["o0", "o1", "o2"]  # equal names first, in order


def test_a_key_shared_by_too_many_officials_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "MAX_CANDIDATES_PER_KEY", 4)
    few = [Person(f"f{n}", "Sita Gurung", BORN) for n in range(4)]
    many = [Person(f"m{n}", "Gita Gurung", BORN) for n in range(5)]
    people = [Person("sita", "Sita Gurung", None), Person("gita", "Gita Gurung", None)]
    found = match_people(people, few + many, include_possible=True)
    assert {m.left.key for m in found} == {"sita"}
