"""Normalisers: the keys that let records from different sources meet.

All work on polars columns and call Python only once per distinct value (the
public-suffix lookup), so they stay fast at millions of rows. The public-suffix
list is the snapshot shipped in the ``publicsuffixlist`` package; nothing is
fetched at run time.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import polars as pl
from publicsuffixlist import PublicSuffixList

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


@lru_cache(maxsize=1)
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # the package's bundled snapshot


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


@lru_cache(maxsize=1 << 20)
def _registrable(host: str) -> str | None:
    # Cached for the process: one run meets the same hosts in accounts' websites,
    # contacts and signals.
    if not host or " " in host or "." not in host:
        return None
    if host[-1].isdigit() or ":" in host or host.startswith("["):  # possibly an IP address
        try:
            ipaddress.ip_address(host.strip("[]"))
            return None  # an IP address has no registrable domain
        except ValueError:
            pass
    return _suffix_list().privatesuffix(host)


def registrable_domain(hosts: pl.Series) -> pl.Series:
    """``www.sales.acme.co.uk`` -> ``acme.co.uk``; None where there is no such domain.

    Looks up each distinct host once.
    """
    distinct = hosts.drop_nulls().unique()
    mapping = pl.DataFrame(
        {"host": distinct, "domain": [_registrable(h) for h in distinct.to_list()]},
        schema={"host": pl.String, "domain": pl.String},
    )
    return (
        hosts.to_frame("host")
        .join(mapping, on="host", how="left", maintain_order="left")
        .get_column("domain")
        .alias(hosts.name)
    )


def domain_of(values: pl.Series) -> pl.Series:
    """The registrable domain of each website or email address."""
    hosts = values.to_frame("v").select(host_of("v")).to_series()
    return registrable_domain(hosts).alias(values.name)


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
