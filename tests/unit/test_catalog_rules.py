"""The catalog's suppression rules on ingested people and accounts: addresses and
domains match whatever their letter case, and a domain covers its subdomains."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from ingest.catalog import CapabilityEntry, Catalog, CatalogRules, Suppression, Vendor
from ingest.normalise import under_domains

RULES = CatalogRules(
    Catalog(
        vendor=Vendor(name="Vendor"),
        capabilities=[CapabilityEntry(id="c", name="C")],
        suppression=Suppression(
            domains=["Blocked.example", "@other.example", "gov.uk"],
            emails=["Nope@Acme.example"],
        ),
    )
)


def _people(emails: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(len(emails))],
            "email": emails,
            "do_not_contact": [False] * len(emails),
        },
        schema={"person_id": pl.String, "email": pl.String, "do_not_contact": pl.Boolean},
    )


def test_people_match_suppressed_emails_and_domains_whatever_the_case() -> None:
    emails = {
        "nope@acme.example": True,
        "NOPE@ACME.EXAMPLE": True,
        "x@blocked.example": True,
        "X@Blocked.Example": True,
        "x@mail.blocked.example": True,  # a domain covers its subdomains
        "x@EU.Mail.Blocked.Example": True,
        "x@other.example": True,
        "press@hmrc.gov.uk": True,
        "ok@acme.example": False,
        "nope@mail.acme.example": False,  # an address is one address
        "x@notblocked.example": False,
        "x@blocked.example.org": False,
        None: False,
    }
    out = RULES.people(_people(list(emails)))
    assert_series_equal(out["do_not_contact"], pl.Series("do_not_contact", list(emails.values())))


def test_a_person_already_do_not_contact_stays_so() -> None:
    people = _people(["ok@acme.example"]).with_columns(pl.lit(True).alias("do_not_contact"))
    assert RULES.people(people)["do_not_contact"].to_list() == [True]


def test_accounts_on_a_suppressed_domain_or_below_it_are_suppressed() -> None:
    domains = {
        "blocked.example": True,
        "BLOCKED.EXAMPLE": True,
        "eu.blocked.example": True,
        "other.example": True,
        "notblocked.example": False,
        "acme.example": False,
        None: False,
    }
    n = len(domains)
    accounts = pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "domain": list(domains),
            "employees": [None] * n,
            "country": [None] * n,
            "annual_revenue": [None] * n,
            "tier": [None] * n,
            "suppressed": [None] * n,
        },
        schema={
            "account_id": pl.String,
            "domain": pl.String,
            "employees": pl.Int64,
            "country": pl.String,
            "annual_revenue": pl.Float64,
            "tier": pl.String,
            "suppressed": pl.Boolean,
        },
    )
    out = RULES.accounts(accounts, None)
    assert_series_equal(out["suppressed"], pl.Series("suppressed", list(domains.values())))


def test_without_suppressed_domains_nobody_is_covered() -> None:
    rules = CatalogRules(Catalog(vendor=Vendor(name="V"), capabilities=[]))
    people = _people(["a@acme.example", None, "b@blocked.example"])
    assert rules.people(people)["do_not_contact"].to_list() == [False, False, False]
    assert rules.people(_people([]))["do_not_contact"].to_list() == []


LABELS = st.lists(st.from_regex(r"\A[a-z0-9]{1,8}\Z"), min_size=1, max_size=4)


@given(domain=LABELS, below=st.lists(st.from_regex(r"\A[a-z0-9]{1,8}\Z"), max_size=3))
def test_a_domain_covers_exactly_the_hosts_that_end_in_its_labels(
    domain: list[str], below: list[str]
) -> None:
    name = ".".join(domain)
    host = ".".join([*below, name])
    lookalike = ".".join([*below, "x" + name])  # ends in the text, not in the labels
    hosts = pl.Series("h", [host, host.upper(), lookalike])
    assert under_domains(hosts, [name]).to_list() == [True, True, False]
    assert under_domains(hosts, ["x" + name]).to_list() == [False, False, True]
