from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from publicsuffixlist import PSLFILE, PublicSuffixList

from ingest.normalise import compact_key, company_key, domain_of, email_key, host_of


def _apply(expr_fn: Callable[[str], pl.Expr], values: list[str | None]) -> list[str | None]:
    return (
        pl.DataFrame({"v": values}, schema={"v": pl.String})
        .select(expr_fn("v"))
        .to_series()
        .to_list()
    )


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("https://WWW.Acme.co.uk:443/about?x=1", "acme.co.uk"),
        ("acme.com", "acme.com"),
        ("http://shop.acme.com.au/", "acme.com.au"),
        ("Maya.Chen@Sales.Acme.com", "acme.com"),
        ("  www.brightpay.example  ", "brightpay.example"),
        ("https://team.github.io/page", "team.github.io"),  # a public suffix run by a company
        ("http://192.168.0.1/admin", None),
        ("localhost", None),
        ("not a website", None),
        ("", None),
        (None, None),
    ],
)
def test_domains_from_websites_and_emails(value: str | None, domain: str | None) -> None:
    assert domain_of(pl.Series("w", [value], dtype=pl.String)).to_list() == [domain]


def test_domain_lookup_keeps_order_and_repeats() -> None:
    values = pl.Series("w", ["b@x.acme.com", None, "acme.com", "https://acme.com/a", "beta.io"])
    assert domain_of(values).to_list() == ["acme.com", None, "acme.com", "acme.com", "beta.io"]


hosts = st.from_regex(
    r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){0,3}\.(com|co\.uk|io|de)", fullmatch=True
)


@given(
    hosts,
    st.sampled_from(["", "http://", "https://", "HTTPS://www."]),
    st.sampled_from(["", "/", "/a/b?c=d", ":8080/x"]),
)
def test_domain_is_the_same_however_the_site_is_written(host: str, scheme: str, path: str) -> None:
    # A host that is itself a public suffix ("ru.com", "uk.com": private registries
    # on the list) is nobody's domain; the next test pins what happens to those.
    assume(not _package_list().is_public(host))
    plain = domain_of(pl.Series([host])).item()
    assert domain_of(pl.Series([scheme + host.upper() + path])).item() == plain
    assert domain_of(pl.Series([f"someone@{host}"])).item() == plain
    assert plain is not None and domain_of(pl.Series([plain])).item() == plain  # idempotent


def test_a_public_suffix_is_no_domain_but_a_name_under_it_is() -> None:
    # Found by the property above: ru.com is a registry (the list's private part),
    # so a site under it is its own registrable domain, like acme.github.io.
    assert domain_of(pl.Series(["ru.com", "https://www.RU.com/x", "acme.github.io"])).to_list() == [
        None,
        "www.ru.com",
        "acme.github.io",
    ]


def test_host_of_strips_everything_but_the_host() -> None:
    assert _apply(host_of, ["HTTP://user:pw@Acme.com:80/x#y", "a@b.c"]) == ["acme.com", "b.c"]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Acme Freight, Inc.", "acme freight"),
        ("ACME FREIGHT INCORPORATED", "acme freight"),
        ("Acme Freight GmbH & Co. KG", "acme freight"),
        ("Johnson & Johnson", "johnson and johnson"),
        ("Procter and Gamble Co", "procter and gamble"),
        ("Bright-Pay Ltd", "bright pay"),
        ("Company Shop Ltd", "company shop"),
        ("The Company", "the"),
        ("Inc", "inc"),
        ("Zoë Økonomi AS", "zoë økonomi"),
    ],
)
def test_company_key_drops_case_punctuation_and_legal_forms(name: str, key: str) -> None:
    assert _apply(company_key, [name]) == [key]


@given(st.text(max_size=40))
def test_company_key_is_idempotent(name: str) -> None:
    once = _apply(company_key, [name])[0]
    assert _apply(company_key, [once])[0] == once


def test_compact_key_ignores_spacing_and_case() -> None:
    assert _apply(compact_key, ["GTXPro", "GTX Pro", "gtx-pro", None]) == ["gtxpro"] * 3 + [None]


def test_email_key() -> None:
    assert _apply(email_key, [" Maya@Acme.COM ", "not-an-email", "a@b", None]) == [
        "maya@acme.com",
        None,
        None,
        None,
    ]


@functools.lru_cache(maxsize=1)
def _package_list() -> PublicSuffixList:
    return PublicSuffixList()


def _package_answer(host: str) -> str | None:
    """The reference: publicsuffixlist's own lookup, with the same pre-checks."""
    if not host or " " in host or "." not in host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    return _package_list().privatesuffix(host)


def test_registrable_domain_agrees_with_publicsuffixlist_on_every_rule() -> None:
    """Every rule of the shipped list, as a host and under one and two more labels,
    plus hand-picked odd hosts: polars' answer equals the package's, host for host."""
    from ingest.normalise import registrable_domain

    rules = []
    with open(PSLFILE, encoding="utf-8") as fh:
        for line in fh:
            rule = line.strip().split(" ")[0].lower()
            if rule and not rule.startswith("//"):
                rules.append(rule.lstrip("!").replace("*.", "x."))
    hosts = [h for r in rules for h in (r, f"acme.{r}", f"www.acme.{r}")]
    hosts += [
        "acme.example", "a.b.c.d.e.f.example", "www.ck", "x.www.ck", "foo.ck", "a.foo.ck",
        "city.kawasaki.jp", "x.city.kawasaki.jp", "10.0.0.1", "[::1]", "2001:db8::1",
        "1.2.3.4.example", "acme.co.uk", "co.uk", "uk", "a..b", "has space.com",
        "blogspot.com", "x.blogspot.com", "xn--fiqs8s", "acme.xn--fiqs8s", "acme.中国",
    ]  # fmt: skip
    got = registrable_domain(pl.Series("h", hosts, dtype=pl.String)).to_list()
    want = [_package_answer(h) for h in hosts]
    mismatches = [(h, g, w) for h, g, w in zip(hosts, got, want, strict=True) if g != w]
    assert not mismatches, mismatches[:20]
    assert len(hosts) > 20_000
