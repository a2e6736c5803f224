"""The fixed facts of the demo world: Nepal (home) and its partner corridors.

Agreements, fee rules, currencies, occupations, wages and the name lists
the generator draws from. Everything here is fictional but shaped like the
real thing: Nepal's "free visa, free ticket" policy (the worker pays at most
a NPR 10,000 service charge; the employer pays visa and air ticket), zero
fees for domestic workers in the Gulf and Malaysia, a one-month-wage cap in
one corridor, agreements that ended or have not yet come into force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

HOME_COUNTRY = "NP"
HOME_CURRENCY = "NPR"

# Deployments of the demo world fall in this window; registry events never
# come after its end.
WORLD_START = dt.date(2023, 1, 1)
WORLD_END = dt.date(2026, 10, 31)
# Monthly FX rates run from here (the first of a month) to WORLD_END.
FX_START = dt.date(2022, 12, 1)

SUPERVISORY = ("labour", "immigration", "consular", "police", "foreign_affairs")
NON_SUPERVISORY = ("health", "education", "finance", "agriculture", "tourism")


@dataclass(frozen=True)
class Corridor:
    """A partner country: its currency, wage band and occupation mix."""

    country: str
    currency: str
    share: float  # share of all deployments
    wage_low: int  # monthly wage band in `currency`, whole units
    wage_high: int
    wage_step: int
    employer_suffix: str
    occupations: tuple[tuple[str, float], ...]  # ISCO-08 unit group, weight


CORRIDORS: tuple[Corridor, ...] = (
    Corridor(
        "MY",
        "MYR",
        0.26,
        1500,
        2200,
        10,
        "Sdn. Bhd.",
        (("9329", 34), ("5414", 18), ("9112", 12), ("9412", 10), ("5131", 8), ("9111", 4)),
    ),
    Corridor(
        "QA",
        "QAR",
        0.18,
        1000,
        2000,
        50,
        "W.L.L.",
        (("9313", 26), ("7112", 14), ("8322", 12), ("5414", 10), ("9112", 12), ("9111", 8)),
    ),
    Corridor(
        "SA",
        "SAR",
        0.15,
        1000,
        2200,
        50,
        "Co. Ltd.",
        (("9313", 24), ("7112", 12), ("8322", 14), ("7212", 8), ("9412", 10), ("9111", 10)),
    ),
    Corridor(
        "AE",
        "AED",
        0.20,
        1000,
        2600,
        50,
        "LLC",
        (("9313", 18), ("5414", 16), ("8322", 12), ("9112", 14), ("5120", 8), ("9111", 8)),
    ),
    Corridor(
        "KW",
        "KWD",
        0.08,
        100,
        260,
        5,
        "Co. W.L.L.",
        (("9111", 30), ("9112", 20), ("8322", 14), ("9313", 12), ("5120", 8)),
    ),
    Corridor(
        "JP",
        "JPY",
        0.08,
        160000,
        260000,
        1000,
        "K.K.",
        (("5120", 20), ("9412", 18), ("5131", 12), ("9211", 16), ("7411", 8), ("9112", 10)),
    ),
    Corridor(
        "KR",
        "KRW",
        0.05,
        2060000,
        2700000,
        10000,
        "Co., Ltd.",
        (("9329", 40), ("9211", 24), ("7212", 12), ("8322", 6)),
    ),
)

# Skilled trades earn above the corridor's base band.
SKILLED_OCCUPATIONS = frozenset({"7112", "7212", "7411", "8322", "5120"})


@dataclass(frozen=True)
class FeeRuleSpec:
    occupation: str
    cap_type: str  # zero | fixed | wage_multiple
    cap_amount: str = ""
    cap_currency: str = ""
    prohibited: str = ""  # `;`-separated fee categories


@dataclass(frozen=True)
class AgreementSpec:
    agreement_id: str
    country: str
    title: str
    effective_from: dt.date
    effective_to: dt.date | None
    rules: tuple[FeeRuleSpec, ...]


_SERVICE_CHARGE = FeeRuleSpec("*", "fixed", "10000", "NPR", "visa;travel")
_DOMESTIC_ZERO = FeeRuleSpec("9111", "zero", prohibited="visa;travel")

AGREEMENTS: tuple[AgreementSpec, ...] = (
    AgreementSpec(
        "NP-MY-2018",
        "MY",
        "Memorandum of Understanding on the Recruitment, Employment and Repatriation of Workers",
        dt.date(2018, 10, 29),
        None,
        (
            FeeRuleSpec("*", "fixed", "10000", "NPR", "visa;travel;insurance"),
            FeeRuleSpec("9111", "zero", prohibited="visa;travel;insurance"),
        ),
    ),
    AgreementSpec(
        "NP-QA-2005",
        "QA",
        "Agreement concerning Nepalese Manpower Employment in the State of Qatar",
        dt.date(2005, 3, 21),
        None,
        (_SERVICE_CHARGE, _DOMESTIC_ZERO),
    ),
    AgreementSpec(
        "NP-SA-2018",
        "SA",
        "Memorandum of Understanding on Labour Cooperation (ended 30 June 2024)",
        dt.date(2018, 1, 1),
        dt.date(2024, 6, 30),
        (FeeRuleSpec("*", "fixed", "10000", "NPR"), FeeRuleSpec("9111", "zero")),
    ),
    AgreementSpec(
        "NP-SA-2024",
        "SA",
        "Agreement on the Recruitment of General Workers",
        dt.date(2024, 7, 1),
        None,
        (_SERVICE_CHARGE, _DOMESTIC_ZERO),
    ),
    AgreementSpec(
        "NP-AE-2019",
        "AE",
        "Memorandum of Understanding in the Field of Manpower",
        dt.date(2019, 7, 22),
        None,
        (_SERVICE_CHARGE, _DOMESTIC_ZERO),
    ),
    AgreementSpec(
        "NP-KW-2025",
        "KW",
        "Agreement on Domestic and General Workers (in force from 1 March 2025)",
        dt.date(2025, 3, 1),
        None,
        (
            FeeRuleSpec("*", "fixed", "10000", "NPR", "visa;travel;insurance"),
            FeeRuleSpec("9111", "zero", prohibited="visa;travel;insurance"),
        ),
    ),
    AgreementSpec(
        "NP-JP-2019",
        "JP",
        "Memorandum of Cooperation on Specified Skilled Workers",
        dt.date(2019, 3, 25),
        None,
        (FeeRuleSpec("*", "wage_multiple", "1", "", "travel"),),
    ),
    AgreementSpec(
        "NP-KR-2007",
        "KR",
        "Memorandum of Understanding on the Employment Permit System",
        dt.date(2007, 7, 23),
        None,
        (FeeRuleSpec("*", "fixed", "700", "USD", "visa;travel"),),
    ),
)

# FX: (currency, usd_per_unit at FX_START, monthly volatility; 0 = pegged).
FX_BASES: tuple[tuple[str, float, float], ...] = (
    ("USD", 1.0, 0.0),
    ("NPR", 0.0076, 0.006),
    ("MYR", 0.227, 0.012),
    ("QAR", 0.2747, 0.0),
    ("SAR", 0.2666, 0.0),
    ("AED", 0.2723, 0.0),
    ("KWD", 3.255, 0.002),
    ("JPY", 0.0074, 0.018),
    ("KRW", 0.00077, 0.014),
)

MALE_FIRST = (
    "Ram", "Shyam", "Hari", "Krishna", "Gopal", "Bishnu", "Dipak", "Suresh", "Ramesh",
    "Dinesh", "Rajesh", "Prakash", "Bikash", "Sanjay", "Anil", "Sunil", "Mohan", "Madan",
    "Bimal", "Kamal", "Nabin", "Roshan", "Sagar", "Santosh", "Arjun", "Bharat", "Mahesh",
    "Narayan", "Prem", "Rabin", "Sujan", "Tek", "Yubaraj", "Umesh", "Ganesh", "Keshav",
    "Laxman", "Nirmal", "Pawan", "Binod", "Durga", "Govinda", "Jeevan", "Kiran", "Manoj",
    "Nawaraj", "Pradip", "Rupesh", "Shankar", "Tilak",
)  # fmt: skip
FEMALE_FIRST = (
    "Sita", "Gita", "Laxmi", "Kamala", "Saraswati", "Parbati", "Radha", "Sarita", "Sunita",
    "Anita", "Manju", "Bimala", "Nirmala", "Sabina", "Pooja", "Rita", "Sharmila", "Srijana",
    "Asmita", "Binita", "Ganga", "Kalpana", "Menuka", "Pramila", "Rekha", "Sushila", "Usha",
    "Yamuna", "Januka", "Dipa",
)  # fmt: skip
MALE_MIDDLE = ("Bahadur", "Prasad", "Kumar", "Raj", "Nath", "Lal", "", "", "")
FEMALE_MIDDLE = ("Kumari", "Devi", "", "")
LAST = (
    "Thapa", "Shrestha", "Gurung", "Tamang", "Magar", "Rai", "Limbu", "Sherpa", "Adhikari",
    "Sharma", "Poudel", "Khadka", "Karki", "Bhandari", "Basnet", "Koirala", "Dahal",
    "Bhattarai", "Ghimire", "Pandey", "Joshi", "Mahato", "Yadav", "Chaudhary", "Tharu",
    "Shah", "Rana", "Bista", "Oli", "Lama", "Maharjan", "Dangol", "Pradhan", "Regmi",
    "Subedi", "Acharya", "Aryal", "Neupane", "Pokharel", "Budha", "Rawal", "Thakuri",
    "Bhusal", "Gautam", "Kafle", "Lamichhane", "Timilsina", "Sapkota", "Upreti", "Khatri",
)  # fmt: skip

# Officials' lists are often kept in Nepali: the Devanagari spelling of the
# name parts above (each transliterates to its romanisation's key). A name is
# written in Devanagari only when all its parts are here.
DEVANAGARI = {
    "Ram": "राम", "Shyam": "श्याम", "Hari": "हरि", "Krishna": "कृष्ण", "Gopal": "गोपाल",
    "Bishnu": "विष्णु", "Dipak": "दीपक", "Suresh": "सुरेश", "Ramesh": "रमेश",
    "Dinesh": "दिनेश", "Rajesh": "राजेश", "Prakash": "प्रकाश", "Bikash": "विकास",
    "Sanjay": "सञ्जय", "Anil": "अनिल", "Sunil": "सुनिल", "Mohan": "मोहन", "Madan": "मदन",
    "Kamal": "कमल", "Nabin": "नवीन", "Arjun": "अर्जुन", "Mahesh": "महेश", "Narayan": "नारायण",
    "Prem": "प्रेम", "Ganesh": "गणेश", "Keshav": "केशव", "Laxman": "लक्ष्मण", "Binod": "विनोद",
    "Govinda": "गोविन्द", "Kiran": "किरण", "Manoj": "मनोज", "Shankar": "शंकर", "Sita": "सीता",
    "Gita": "गीता", "Laxmi": "लक्ष्मी", "Kamala": "कमला", "Saraswati": "सरस्वती",
    "Radha": "राधा", "Sarita": "सरिता", "Sunita": "सुनिता", "Anita": "अनिता", "Manju": "मन्जु",
    "Nirmala": "निर्मला", "Pooja": "पूजा", "Rita": "रीता", "Usha": "उषा", "Ganga": "गंगा",
    "Rekha": "रेखा", "Bahadur": "बहादुर", "Prasad": "प्रसाद", "Kumar": "कुमार", "Raj": "राज",
    "Nath": "नाथ", "Lal": "लाल", "Kumari": "कुमारी", "Devi": "देवी", "Thapa": "थापा",
    "Shrestha": "श्रेष्ठ", "Gurung": "गुरुङ", "Tamang": "तामाङ", "Magar": "मगर", "Rai": "राई",
    "Limbu": "लिम्बु", "Sherpa": "शेर्पा", "Adhikari": "अधिकारी", "Sharma": "शर्मा",
    "Poudel": "पौडेल", "Khadka": "खड्का", "Karki": "कार्की", "Bhandari": "भण्डारी",
    "Basnet": "बस्नेत", "Koirala": "कोइराला", "Dahal": "दाहाल", "Bhattarai": "भट्टराई",
    "Ghimire": "घिमिरे", "Pandey": "पाण्डे", "Joshi": "जोशी", "Yadav": "यादव", "Rana": "राणा",
    "Bista": "बिष्ट", "Oli": "ओली", "Lama": "लामा", "Regmi": "रेग्मी", "Subedi": "सुवेदी",
    "Acharya": "आचार्य", "Aryal": "अर्याल", "Neupane": "नेउपाने", "Pokharel": "पोखरेल",
    "Gautam": "गौतम", "Khatri": "खत्री",
}  # fmt: skip
# Other romanisations of one Nepali name, as another clerk would type it.
ROMANISATION_VARIANTS = {
    "Poudel": ("Paudel", "Paudyal"), "Laxmi": ("Lakshmi",), "Bista": ("Bisht",),
    "Dipak": ("Deepak",), "Pooja": ("Puja",), "Bishnu": ("Vishnu",), "Bikash": ("Vikash",),
    "Sita": ("Seeta",), "Gita": ("Geeta",), "Rita": ("Reeta",), "Nabin": ("Navin",),
    "Bahadur": ("Bdr.",), "Prasad": ("Pd.",), "Shrestha": ("Shresta",), "Pandey": ("Pande",),
}  # fmt: skip
# Birth dates a registry writes when the real one is unknown (contract defaults).
PLACEHOLDER_BIRTH_DATES = ("1900-01-01", "1970-01-01")

AGENCY_WORDS = (
    "Himalayan", "Everest", "Annapurna", "Sagarmatha", "Kanchenjunga", "Makalu", "Lumbini",
    "Janakpur", "Pokhara", "Gandaki", "Karnali", "Koshi", "Bagmati", "Narayani", "Mechi",
    "Global", "Asian", "Gulf", "Overseas", "Unique", "Trustworthy", "Sunrise", "Golden",
    "Silver", "Diamond", "Star", "New Horizon", "Bright Future", "Royal", "Nepal",
)  # fmt: skip
AGENCY_KINDS = (
    "Manpower", "Overseas Employment", "Human Resources", "Recruitment", "Job Placement",
    "Manpower Services", "International Employment",
)  # fmt: skip
KATHMANDU_AREAS = (
    "Kathmandu-10, Baneshwor", "Kathmandu-31, Maitighar", "Kathmandu-2, Lazimpat",
    "Kathmandu-34, Tinkune", "Kathmandu-29, Anamnagar", "Kathmandu-4, Maharajgunj",
    "Lalitpur-3, Pulchowk", "Kathmandu-32, Koteshwor", "Kathmandu-26, Kalimati",
    "Kathmandu-16, Balaju",
)  # fmt: skip

EMPLOYER_WORDS = (
    "Al Noor", "Gulf Star", "Crescent", "Pearl", "Falcon", "Oasis", "Desert Rose", "Emerald",
    "Horizon", "Summit", "Lotus", "Harbour", "Palm", "Golden Sands", "Blue Wave",
    "Silverline", "Apex", "Unity", "Meridian", "Zenith",
)  # fmt: skip
EMPLOYER_WORDS_BY_COUNTRY = {
    "JP": ("Sakura", "Fuji", "Midori", "Hikari", "Aozora", "Kaede", "Yamato", "Tsubasa"),
    "KR": ("Hanbit", "Daehan", "Saerom", "Mirae", "Hanul", "Seorae", "Dongbang", "Pureun"),
    "MY": ("Seri", "Bintang", "Cahaya", "Mutiara", "Perdana", "Sinar", "Gemilang", "Jaya"),
}
EMPLOYER_INDUSTRIES = (
    "Construction", "Contracting", "Facilities Management", "Security Services",
    "Hospitality", "Catering", "Logistics", "Manufacturing", "Plastics", "Electronics",
    "Agro", "Cleaning Services", "Transport", "Food Industries",
)  # fmt: skip

POSITIONS = {
    "labour": ("Director General", "Labour Officer", "Section Officer", "Inspector"),
    "immigration": ("Immigration Officer", "Deputy Director", "Section Officer"),
    "consular": ("Labour Attaché", "Consul", "First Secretary"),
    "police": ("Inspector", "Deputy Superintendent", "Superintendent"),
    "foreign_affairs": ("Under Secretary", "Joint Secretary", "Desk Officer"),
    "health": ("Medical Officer", "Health Inspector"),
    "education": ("Head Teacher", "Education Officer"),
    "finance": ("Revenue Officer", "Accounts Officer"),
    "agriculture": ("Agriculture Extension Officer",),
    "tourism": ("Tourism Officer",),
}

SUSPENSION_REASONS = (
    "Complaints of excess fees under investigation",
    "Failure to submit worker insurance records",
    "Advertising demands without approval",
)
REVOCATION_REASONS = (
    "Fraudulent demand letters",
    "Repeated overcharging of workers",
    "Sending workers on tourist visas",
)
CANCELLATION_REASONS = ("Licence surrendered by the agency", "Agency dissolved")
