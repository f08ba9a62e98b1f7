"""Normalisers: the keys that let records from different sources meet.

All work on polars columns (the public-suffix lookup once per distinct host), so
they stay fast at millions of rows. The public-suffix list is the snapshot shipped
in the ``publicsuffixlist`` package, read from its file and matched in polars
exactly as that package matches it (a test compares the two on every rule);
nothing is fetched at run time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

import polars as pl
from publicsuffixlist import PSLFILE

# Legal-form words dropped from company names, so "Acme, Inc." and "ACME Incorporated"
# share a key. Only whole words at the end of the name go: "Company Shop Ltd" keeps "Shop".
LEGAL_SUFFIXES = (
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "aps",
    "pty",
    "pte",
    "kk",
    "sl",
    "se",
    "holdings",
    "group",
)
# A run of legal words at the end, possibly joined by "and" ("GmbH & Co. KG": "&" is
# spelled "and" by then).
_SUFFIX_RUN = r"(?:\s+(?:and\s+)?(?:" + "|".join(LEGAL_SUFFIXES) + r"))+$"


@dataclass(frozen=True)
class _SuffixRules:
    exact: pl.Series  # "co.uk"
    wildcard: pl.Series  # "*.ck" stored as "ck"
    exception: pl.Series  # "!www.ck" stored as "www.ck"
    max_labels: int


@lru_cache(maxsize=1)
def _suffix_rules() -> _SuffixRules:
    """The public-suffix rules of the snapshot shipped in ``publicsuffixlist`` (ICANN
    and private sections, names also in their punycode form, as that package reads
    them), split by kind so that matching is a few set lookups per depth."""
    exact: set[str] = set()
    wildcard: set[str] = set()
    exception: set[str] = set()
    max_labels = 0
    with open(PSLFILE, "rb") as fh:
        for line in fh:
            rule = line.decode("utf-8", "surrogateescape").lower().split(" ")[0].rstrip()
            if not rule or rule.startswith("//"):
                continue
            max_labels = max(max_labels, rule.count(".") + 1)
            names = {rule.lstrip("!")}
            with suppress(UnicodeError):
                names.add(rule.lstrip("!").encode("idna").decode("ascii"))
            for name in names:
                if rule.startswith("!"):
                    exception.add(name)
                elif name.startswith("*."):
                    wildcard.add(name[2:])
                else:
                    exact.add(name)

    def series(values: set[str]) -> pl.Series:
        return pl.Series(sorted(values), dtype=pl.String)

    return _SuffixRules(series(exact), series(wildcard), series(exception), max_labels)


def _public_length(labels: pl.Expr, rules: _SuffixRules) -> pl.Expr:
    """How many trailing labels are a public suffix: the longest rule that matches (an
    exception rule gives one label less, a wildcard one more), else 1 (an unknown TLD
    counts as public), as ``publicsuffixlist`` counts them."""
    count = labels.list.len()
    found: list[pl.Expr] = []
    for depth in range(rules.max_labels + 1, 0, -1):
        tail = labels.list.slice(-depth, depth).list.join(".")
        deep = count >= depth
        found.append(
            pl.when(deep & tail.is_in(rules.exception.implode()))
            .then(pl.lit(depth - 1))
            .when(deep & tail.is_in(rules.wildcard.implode()))
            .then(pl.when(count > depth).then(pl.lit(depth + 1)).otherwise(pl.lit(depth)))
            .when(deep & tail.is_in(rules.exact.implode()))
            .then(pl.lit(depth))
        )
    return pl.coalesce(found).fill_null(1)


def host_of(column: str | pl.Expr) -> pl.Expr:
    """The host name in a website URL or an email address, lower-cased.

    ``https://WWW.Acme.co.uk:443/about`` -> ``www.acme.co.uk``;
    ``Maya.Chen@Sales.Acme.com`` -> ``sales.acme.com``.
    """
    col = pl.col(column) if isinstance(column, str) else column
    text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        text.str.replace(r"^[a-z][a-z0-9+.\-]*://", "")  # scheme
        .str.replace(r"^[^/?#]*@", "")  # user info, or an email's local part
        .str.replace(r"[/?#].*$", "")  # path, query, fragment
        .str.replace(r":\d+$", "")  # port
        .str.strip_chars(".")
        .replace("", None)
    )


def registrable_domain(hosts: pl.Series) -> pl.Series:
    """``www.sales.acme.co.uk`` -> ``acme.co.uk``; None where there is no such domain
    (no dot, a space, an empty label, an IP address, or the host is itself a public
    suffix). Computed per distinct host in polars; IP-like hosts are checked in Python.
    """
    rules = _suffix_rules()
    host = pl.col("host")
    labels = pl.col("labels")
    public = pl.col("public")
    unusable = (
        (host == "")
        | host.str.contains(" ", literal=True)
        | ~host.str.contains(".", literal=True)
        | host.str.contains("..", literal=True)
    )
    mapping = (
        hosts.drop_nulls()
        .unique()
        .to_frame("host")
        .lazy()
        .with_columns(host.str.split(".").alias("labels"))  # once: every depth reads it
        .with_columns(_public_length(labels, rules).alias("public"))
        .select(
            "host",
            pl.when(unusable | (labels.list.len() < public + 1))
            .then(pl.lit(None, pl.String))
            .otherwise(labels.list.tail(public + 1).list.join("."))
            .alias("domain"),
            host.str.contains(r"[0-9]$|:|^\[").alias("ip_like"),
        )
        .collect()
    )
    ips = [h for h in mapping.filter("ip_like")["host"].to_list() if _is_ip(h)]
    if ips:
        mapping = mapping.with_columns(
            pl.when(pl.col("host").is_in(ips))
            .then(None)
            .otherwise(pl.col("domain"))
            .alias("domain")
        )
    return (
        hosts.to_frame("host")
        .join(mapping.select("host", "domain"), on="host", how="left", maintain_order="left")
        .get_column("domain")
        .alias(hosts.name)
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def domain_of(values: pl.Series) -> pl.Series:
    """The registrable domain of each website or email address."""
    hosts = values.to_frame("v").select(host_of("v")).to_series()
    return registrable_domain(hosts).alias(values.name)


def under_domains(hosts: pl.Series, domains: Iterable[str]) -> pl.Series:
    """Whether each host is one of ``domains`` or under one of them, whatever the case:
    ``blocked.example`` covers ``mail.blocked.example`` (and ``gov.uk`` covers
    ``hmrc.gov.uk``: a listed domain is an instruction, whatever its level). Null
    hosts are not covered."""
    wanted = sorted({d.strip().lower().lstrip("@").strip(".") for d in domains} - {""})
    labels = pl.col("host").str.strip_chars().str.to_lowercase().str.strip_chars(".").str.split(".")
    deepest = max((d.count(".") + 1 for d in wanted), default=0)
    tails = [
        (labels.list.len() >= depth) & labels.list.tail(depth).list.join(".").is_in(wanted)
        for depth in range(1, deepest + 1)
    ]
    covered = (pl.any_horizontal(tails) if tails else pl.col("host").is_in([])).fill_null(False)
    return hosts.cast(pl.String).to_frame("host").select(covered).to_series().alias(hosts.name)


def company_key(column: str | pl.Expr) -> pl.Expr:
    """A company name without case, punctuation or trailing legal forms.

    ``"Acme Freight, Inc."`` and ``"ACME FREIGHT INCORPORATED"`` -> ``"acme freight"``.
    A name that is nothing but legal words keeps them ("The Company" stays).
    """
    col = pl.col(column) if isinstance(column, str) else column
    cleaned = (
        col.cast(pl.String)
        .str.to_lowercase()
        .str.replace_all(r"&", " and ")
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )
    stripped = cleaned.str.replace(_SUFFIX_RUN, "").str.strip_chars()
    return pl.when(stripped.str.len_chars() > 0).then(stripped).otherwise(cleaned)


def compact_key(column: str | pl.Expr) -> pl.Expr:
    """Letters and digits only, lower-cased, "&" read as "and":
    ``"GTX Pro"`` and ``"GTXPro"`` -> ``"gtxpro"``."""
    col = pl.col(column) if isinstance(column, str) else column
    text = col.cast(pl.String).str.to_lowercase().str.replace_all("&", "and", literal=True)
    return text.str.replace_all(r"[^\p{L}\p{N}]+", "")


def email_key(column: str | pl.Expr) -> pl.Expr:
    """A trimmed, lower-cased email address, or null when it is not one."""
    col = pl.col(column) if isinstance(column, str) else column
    text = col.cast(pl.String).str.strip_chars().str.to_lowercase()
    return pl.when(text.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")).then(text).otherwise(None)
