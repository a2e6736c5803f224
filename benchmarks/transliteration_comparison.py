"""Compare transliteration libraries on names as a ministry's registers write them.

    .venv/bin/python benchmarks/transliteration_comparison.py

For Nepali and Hindi (Devanagari), Arabic and Burmese names, each written
in its own script and paired with the romanisations a registry clerk
would type, every candidate turns the native name into Latin letters and
the monitor scores it against each romanisation
(`monitor.services.matching.name_scores`: the higher of the spelling and
the romanisation-key score). Prints, per library and language, how many
pairs reach the default threshold (90) and the mean score, then the
microseconds per name.

Candidates: PyICU's `Any-Latin` as it comes, the monitor's `to_latin`
(PyICU plus the Indic rules: final inherent vowels dropped, ISO 15919
letters in their usual romanisation), `anyascii` and `unidecode`.
OpenSanctions' `normality` (and so `rigour`) transliterates with PyICU
(`Any-Latin`), so it scores as PyICU does. The last two are not
dependencies of the monitor: install them into the venv to compare
(`pip install anyascii unidecode`); a missing one is reported and skipped.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable

from monitor.services.matching import _transliterator, name_scores, to_latin

THRESHOLD = 90
NAMES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "Nepali": [
        ("राम बहादुर थापा", ("Ram Bahadur Thapa", "Ram Bdr. Thapa")),
        (
            "कृष्ण प्रसाद पौडेल",
            ("Krishna Prasad Poudel", "Krishna Prasad Paudel", "Krishna Prasad Paudyal"),
        ),
        ("लक्ष्मी देवी बिष्ट", ("Laxmi Devi Bista", "Lakshmi Devi Bisht")),
        ("दीपक श्रेष्ठ", ("Deepak Shrestha", "Dipak Shrestha")),
        ("सीता गुरुङ", ("Sita Gurung",)),
        ("गीता कुमारी राई", ("Gita Kumari Rai", "Geeta Kumari Rai")),
        ("रमा शर्मा", ("Rama Sharma",)),
        ("ज्ञानेन्द्र बहादुर क्षेत्री", ("Gyanendra Bahadur Kshetri", "Gyanendra Bahadur Chhetri")),
        ("विष्णु प्रसाद अधिकारी", ("Bishnu Prasad Adhikari", "Vishnu Prasad Adhikari")),
        ("सुनिता तामाङ", ("Sunita Tamang",)),
        ("पुष्प कमल दाहाल", ("Pushpa Kamal Dahal",)),
        ("शेर बहादुर देउवा", ("Sher Bahadur Deuba",)),
        ("मदन कुमार भण्डारी", ("Madan Kumar Bhandari",)),
        ("हरि प्रसाद उपाध्याय", ("Hari Prasad Upadhyay", "Hari Prasad Upadhyaya")),
        ("चन्द्र बहादुर घिमिरे", ("Chandra Bahadur Ghimire",)),
        ("छत्र बहादुर कार्की", ("Chhatra Bahadur Karki",)),
    ],
    "Hindi": [
        ("राजेश कुमार शर्मा", ("Rajesh Kumar Sharma",)),
        ("सुनीता देवी", ("Sunita Devi", "Sunita Debi")),
        ("अमित सिंह", ("Amit Singh",)),
        ("प्रियंका चौधरी", ("Priyanka Chaudhary", "Priyanka Choudhary")),
        ("मोहम्मद इरफ़ान", ("Mohammad Irfan", "Mohammed Irfan")),
        ("अजय यादव", ("Ajay Yadav",)),
        ("पूजा गुप्ता", ("Pooja Gupta", "Puja Gupta")),
        ("संजय वर्मा", ("Sanjay Verma", "Sanjay Varma")),
    ],
    "Arabic": [
        ("محمد عبد الله", ("Mohammed Abdullah", "Muhammad Abd Allah")),
        ("أحمد حسن", ("Ahmed Hassan", "Ahmad Hasan")),
        ("فاطمة الزهراء", ("Fatima Al-Zahra", "Fatimah Alzahraa")),
        ("علي محمود", ("Ali Mahmoud", "Ali Mahmud")),
        ("خالد إبراهيم", ("Khalid Ibrahim", "Khaled Ebrahim")),
        ("عمر فاروق", ("Omar Farooq", "Umar Faruk")),
        ("يوسف سليمان", ("Yousef Suleiman", "Yusuf Sulaiman")),
    ],
    "Burmese": [
        ("အောင်ဆန်းစုကြည်", ("Aung San Suu Kyi",)),
        ("မောင်မောင်", ("Maung Maung",)),
        ("သိန်းစိန်", ("Thein Sein",)),
        ("မင်းအောင်လှိုင်", ("Min Aung Hlaing",)),
        ("ထင်ကျော်", ("Htin Kyaw",)),
        ("ဝင်းမြင့်", ("Win Myint",)),
    ],
}


def candidates() -> dict[str, Callable[[str], str] | None]:
    """Each library's native-to-Latin function (None when it is not installed)."""
    found: dict[str, Callable[[str], str] | None] = {
        "PyICU Any-Latin": _transliterator().transliterate,
        "monitor to_latin (PyICU + Indic rules)": to_latin,
    }
    for module, function in (("anyascii", "anyascii"), ("unidecode", "unidecode")):
        try:
            found[module] = getattr(importlib.import_module(module), function)
        except ImportError:
            found[module] = None
    return found


def main() -> None:
    natives = [native for rows in NAMES.values() for native, _ in rows]
    for label, transliterate in candidates().items():
        if transliterate is None:
            print(f"{label}: not installed (pip install {label})")
            continue
        print(label)
        for language, rows in NAMES.items():
            scores = [
                max(name_scores(transliterate(native), romanised))
                for native, romanisations in rows
                for romanised in romanisations
            ]
            reached = sum(score >= THRESHOLD for score in scores)
            print(
                f"  {language:<8} {reached:>2}/{len(scores):<2} pairs >= {THRESHOLD}, "
                f"mean score {statistics.mean(scores):5.1f}"
            )
        started = time.perf_counter()
        for repeat in range(1, 21):
            for native in natives:
                transliterate(native + " " * repeat)  # defeat to_latin's cache
        seconds = (time.perf_counter() - started) / (20 * len(natives))
        print(f"  {seconds * 1e6:.0f} microseconds per name")
    print("\nexamples (monitor to_latin):")
    for language, rows in NAMES.items():
        native, romanisations = rows[0]
        print(f"  {language:<8} {native} -> {to_latin(native)!r} ~ {romanisations[0]!r}")


if __name__ == "__main__":
    main()
