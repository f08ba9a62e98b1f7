"""The first world's people and companies: names, titles, departments, descriptions."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.sample.first_signals import SampleAccount

FIRST = [
    "Maya",
    "Omar",
    "Lena",
    "Tom",
    "Ana",
    "Raj",
    "Ines",
    "Kenji",
    "Zoe",
    "Luca",
    "Priya",
    "Jonas",
    "Amara",
    "Felix",
    "Sara",
    "Diego",
    "Mei",
    "Noah",
    "Elif",
    "Hugo",
    "Nadia",
    "Sven",
    "Aisha",
    "Mateo",
    "Yuki",
    "Olga",
    "Kwame",
    "Clara",
    "Ivan",
    "Leila",
]
LAST = [
    "Chen",
    "Haddad",
    "Park",
    "Reyes",
    "Silva",
    "Patel",
    "Alvarez",
    "Sato",
    "Novak",
    "Rossi",
    "Iyer",
    "Berg",
    "Okafor",
    "Weber",
    "Lund",
    "Garcia",
    "Wang",
    "Muller",
    "Kaya",
    "Durand",
    "Haddou",
    "Nilsen",
    "Bello",
    "Lopez",
    "Tanaka",
    "Petrova",
    "Mensah",
    "Fischer",
    "Ivanov",
    "Nasser",
]
WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Gringotts",
    "Oscorp",
    "Wonka",
    "Aperture",
    "Nakatomi",
    "Pied",
    "Massive",
    "Dunder",
    "Monarch",
    "Prestige",
    "Sterling",
    "Blue",
    "North",
    "Silver",
    "Bright",
    "Iron",
    "Vertex",
    "Summit",
    "Harbor",
    "Atlas",
    "Nova",
    "Zenith",
    "Orbit",
]
SUFFIX = ["Inc.", "GmbH", "Ltd", "LLC", "Corp.", "S.A.", "AG", "", "", "Group", "B.V."]
NOUNS = [
    "Freight",
    "Health",
    "Foods",
    "Systems",
    "Labs",
    "Logistics",
    "Bank",
    "Insurance",
    "Retail",
    "Works",
    "Analytics",
    "Motors",
    "Pharma",
    "Media",
    "Energy",
]
COUNTRIES = ["US", "US", "US", "DE", "GB", "FR", "NL", "SE", "ES", "CA"]
GENERIC_TITLES = [
    "Software Engineer",
    "Account Executive",
    "Marketing Manager",
    "Product Manager",
    "Data Analyst",
    "Office Manager",
    "HR Business Partner",
    "Engineering Manager",
    "Sales Director",
    "Customer Success Manager",
    "CEO",
    "CTO",
]


def company_name(rng: random.Random, used: set[str], i: int) -> str:
    for _ in range(20):
        name = f"{rng.choice(WORDS)} {rng.choice(NOUNS)}"
        if name not in used:
            used.add(name)
            suffix = rng.choice(SUFFIX)
            return f"{name} {suffix}".strip()
    name = f"{rng.choice(WORDS)} {rng.choice(NOUNS)} {i}"
    used.add(name)
    return name


def slug_domain(name: str, i: int) -> str:
    base = "".join(
        ch for ch in name.lower().split(" ")[0] + name.lower().split(" ")[1] if ch.isalnum()
    )
    return f"{base}{i}.example"


def department(title: str) -> str:
    t = title.lower()
    for key, dept in (
        ("data", "Data"),
        ("analytics", "Analytics"),
        ("bi", "Analytics"),
        ("security", "Security"),
        ("ciso", "Security"),
        ("protection", "Legal"),
        ("revenue", "Revenue Operations"),
        ("sales", "Sales"),
        ("cfo", "Finance"),
        ("finance", "Finance"),
        ("engineer", "Engineering"),
        ("cto", "Engineering"),
        ("marketing", "Marketing"),
    ):
        if key in t:
            return dept
    return ""


def description(a: SampleAccount, rng: random.Random) -> str:
    return rng.choice(
        [
            f"{a.name} is a {a.industry.lower()} company based in {a.country}.",
            f"{a.industry} company with about {a.employees} employees.",
            "",
        ]
    )


REPLIES = (
    "Before we talk about anything new: the last invoice is wrong, we were overcharged.",
    "Please unsubscribe me from these emails.",
    "Happy to continue, but I want a call with your CEO first.",
    "We need to amend the contract before renewal.",
    "Our lawyers are reviewing the data processing terms.",
)
