"""The link finder behind the draft guard: hosts by the public-suffix list and the
special-use names, with properties over generated text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from publicsuffixlist import PSLFILE

from drafting.links import SPECIAL_USE, carried, find_links, readable


def _exact_rules() -> list[str]:
    rules: list[str] = []
    with open(PSLFILE, encoding="utf-8") as fh:
        for line in fh:
            rule = line.strip().split(" ")[0].lower()
            if rule and not rule.startswith(("//", "!", "*")) and "*" not in rule:
                rules.append(rule)
    return rules


SUFFIXES = _exact_rules()
LABEL = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?\Z")


def _hosts(text: str) -> list[str]:
    return [f.host for f in find_links(text) if f.kind in ("domain", "URL") and f.host]


@given(label=LABEL, suffix=st.sampled_from([*SUFFIXES, *sorted(SPECIAL_USE)]))
def test_every_name_under_a_known_suffix_is_found(label: str, suffix: str) -> None:
    host = f"{label}.{suffix}"
    assert _hosts(f"Visit {host} today.") == [readable(host).lower()]
    assert _hosts(f"Visit {host}/offer?id=1 today.") == [readable(host).lower()]
    assert _hosts(f"Visit https://{host}/x.") == [readable(host).lower()]


def test_a_label_with_combining_marks_is_one_label() -> None:
    # Thai vowel signs are combining marks, not \\w: the host is found whole.
    assert _hosts("Visit 0.ธุรกิจ.ไทย today.") == ["0.ธุรกิจ.ไทย"]
    assert _hosts("Visit shop.भारत now.") == ["shop.भारत"]


@given(st.text())
def test_no_domain_is_found_where_no_dot_is_shown(text: str) -> None:
    if "." not in readable(text):
        assert [f for f in find_links(text) if f.kind == "domain"] == []


WORDS = st.sampled_from(
    ["e.g", "i.e", "U.S", "Mr", "Inc", "v2.0", "3.14", "1.000.000", "a.m", "etc", "No", "Ph.D"]
) | st.from_regex(r"\A[A-Za-z]{1,12}\Z")


@given(st.lists(WORDS, min_size=1, max_size=12))
def test_sentences_and_abbreviations_are_not_hosts(words: list[str]) -> None:
    assert carried(". ".join(words) + ".") == []


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=2, max_size=6))
def test_version_and_decimal_numbers_are_not_hosts(parts: list[int]) -> None:
    assert find_links("release " + ".".join(map(str, parts)) + " is out") == []


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("report.pdf", []),
        ("update.zip", ["domain"]),  # .zip is a real top-level domain
        ("readme.md", ["domain"]),  # .md is Moldova's
        ("notes.txt and deck.pptx", []),
        ("evil.example.Then we", ["domain"]),  # a missing space still shows the host
        ("mailto:bob@evil.example", ["email address"]),
        ("javascript:alert(1)", ["URL"]),
        ("<script>x</script>", ["markup", "markup"]),
        ("![x](y)", ["markup"]),
        ("Ann Lee <ann@acme.example>", ["markup", "email address"]),
    ],
)
def test_decided_cases(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in carried(text)] == kinds


def test_long_unbroken_text_is_scanned_in_linear_time() -> None:
    # Pathological inputs for backtracking patterns finish (no wall-time assertion).
    for text in ("a." * 20_000, "[" * 20_000, "a" * 50_000 + "@", "a+" * 20_000 + "://"):
        carried(text)
