"""The capability catalog: what we sell, the needs it meets, who buys it, whom we never contact.

One YAML file, validated here (unknown keys, dangling references and duplicate
ids are errors that name the file and the entry). ``catalog_records`` turns it
into graph nodes and edges; ``CatalogRules`` applies its ICP, tier and
suppression rules to accounts and people as they are ingested.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from graph_model.errors import ConfigFileInvalid
from graph_model.vocabulary import Seniority, Tier
from graph_model.yamlfile import read_yaml, validate
from ingest.normalise import company_key, host_of, under_domains


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Persona(_Strict):
    id: str
    description: str = ""
    titles: list[str] = Field(default_factory=list)
    departments: list[str] = Field(default_factory=list)
    seniorities: list[Seniority] = Field(default_factory=list)


class NeedEntry(_Strict):
    id: str
    name: str
    description: str = ""
    phrases: list[str] = Field(default_factory=list)


class CapabilityFit(_Strict):
    industries: Literal["strict", "soft"] = "soft"
    employees: Literal["strict", "soft"] = "soft"
    countries: Literal["strict", "soft"] = "soft"


class CapabilityEntry(_Strict):
    id: str
    name: str
    description: str = ""
    category: str | None = None
    needs: list[str] = Field(default_factory=list)
    integrations: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)
    personas: list[str] = Field(default_factory=list)
    # Declared fit: which of industries, size and countries are strict (an account
    # outside them is never a match) or soft; read by no rule yet.
    fit: CapabilityFit | None = None
    min_employees: int | None = Field(default=None, ge=0)
    max_employees: int | None = Field(default=None, ge=0)
    countries: list[str] | None = None
    site_pages: list[str] = Field(default_factory=list)  # URL globs on the vendor's site


class TechnologyEntry(_Strict):
    name: str
    category: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class Icp(_Strict):
    """The ideal-customer profile: an account outside it is never matched."""

    min_employees: int | None = Field(default=None, ge=0)
    max_employees: int | None = Field(default=None, ge=0)
    industries: list[str] | None = None  # None: any industry
    countries: list[str] | None = None  # None: any country


class TierRule(_Strict):
    """First rule that fits sets the tier of an account whose CRM record has none."""

    tier: Tier
    min_employees: int | None = Field(default=None, ge=0)
    min_annual_revenue: float | None = Field(default=None, ge=0)


class Suppression(_Strict):
    domains: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    account_ids: list[str] = Field(default_factory=list)


class Vendor(_Strict):
    name: str
    domain: str | None = None


class Catalog(_Strict):
    vendor: Vendor
    capabilities: list[CapabilityEntry]
    needs: list[NeedEntry] = Field(default_factory=list)
    personas: list[Persona] = Field(default_factory=list)
    technologies: list[TechnologyEntry] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)
    icp: Icp = Field(default_factory=Icp)
    tiers: list[TierRule] = Field(default_factory=list)
    suppression: Suppression = Field(default_factory=Suppression)

    def check(self, where: str) -> None:
        def unique(kind: str, ids: Sequence[str]) -> None:
            seen: set[str] = set()
            for i, x in enumerate(ids):
                if x in seen:
                    raise ConfigFileInvalid(where, f"{kind}[{i}].id", f"duplicate id {x!r}")
                seen.add(x)

        unique("capabilities", [c.id for c in self.capabilities])
        unique("needs", [n.id for n in self.needs])
        unique("personas", [p.id for p in self.personas])
        needs = {n.id for n in self.needs}
        personas = {p.id for p in self.personas}
        for i, cap in enumerate(self.capabilities):
            for ref in cap.needs:
                if ref not in needs:
                    raise ConfigFileInvalid(
                        where, f"capabilities[{i}].needs", f"unknown need {ref!r}"
                    )
            for ref in cap.personas:
                if ref not in personas:
                    raise ConfigFileInvalid(
                        where, f"capabilities[{i}].personas", f"unknown persona {ref!r}"
                    )

    def technology_names(self) -> list[str]:
        names = [t.name for t in self.technologies]
        for cap in self.capabilities:
            names.extend(cap.integrations)
        return list(dict.fromkeys(names))

    def industry_names(self) -> list[str]:
        names = list(self.industries)
        for cap in self.capabilities:
            names.extend(cap.industries)
        if self.icp.industries:
            names.extend(self.icp.industries)
        return list(dict.fromkeys(names))


def load_catalog(path: Path | str) -> Catalog:
    path = Path(path)
    catalog = validate(Catalog, read_yaml(path), str(path))
    catalog.check(str(path))
    return catalog


def slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.lower(), flags=re.UNICODE).strip("-_")


def catalog_records(
    catalog: Catalog,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(nodes by label, edges by type) for the catalog."""
    personas = {p.id: p for p in catalog.personas}
    nodes: dict[str, list[dict[str, Any]]] = {
        "Capability": [],
        "Need": [],
        "Technology": [],
        "Industry": [],
    }
    edges: dict[str, list[dict[str, Any]]] = {"ADDRESSES": [], "INTEGRATES_WITH": [], "FITS": []}
    categories = {t.name: t.category for t in catalog.technologies}
    for name in catalog.technology_names():
        nodes["Technology"].append(
            {"technology_id": slug(name), "name": name, "category": categories.get(name)}
        )
    for name in catalog.industry_names():
        nodes["Industry"].append({"industry_id": slug(name), "name": name})
    for need in catalog.needs:
        nodes["Need"].append(
            {
                "need_id": need.id,
                "name": need.name,
                "description": need.description,
                "phrases": list(need.phrases),
            }
        )
    for cap in catalog.capabilities:
        chosen = [personas[p] for p in cap.personas]
        nodes["Capability"].append(
            {
                "capability_id": cap.id,
                "name": cap.name,
                "description": cap.description,
                "category": cap.category,
                "persona_titles": _flat(p.titles for p in chosen),
                "persona_departments": _flat(p.departments for p in chosen),
                "persona_seniorities": _flat([s.value for s in p.seniorities] for p in chosen),
            }
        )
        edges["ADDRESSES"].extend({"src": cap.id, "dst": n} for n in cap.needs)
        edges["INTEGRATES_WITH"].extend({"src": cap.id, "dst": slug(t)} for t in cap.integrations)
        edges["FITS"].extend({"src": cap.id, "dst": slug(i)} for i in cap.industries)
    return nodes, edges


def _flat(groups: Any) -> list[str]:
    out: list[str] = []
    for group in groups:
        out.extend(group)
    return list(dict.fromkeys(out))


class CatalogRules:
    """ICP, tier and suppression rules applied to ingested accounts and people."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        sup = catalog.suppression
        self.domains = sorted({d.strip().lower().lstrip("@") for d in sup.domains})
        self.emails = sorted({e.strip().lower() for e in sup.emails})
        self.account_ids = sorted(set(sup.account_ids))

    def accounts(self, frame: pl.DataFrame, industry: pl.Series | None) -> pl.DataFrame:
        """Fill ``in_icp``, ``suppressed`` and a missing ``tier``; ``industry`` is each
        row's industry name (or None)."""
        icp = self.catalog.icp
        employees = pl.col("employees")
        inside: pl.Expr = pl.lit(True)
        if icp.min_employees is not None:
            inside = inside & (employees.is_null() | (employees >= icp.min_employees))
        if icp.max_employees is not None:
            inside = inside & (employees.is_null() | (employees <= icp.max_employees))
        if icp.countries is not None:
            allowed = [c.lower() for c in icp.countries]
            inside = inside & (
                pl.col("country").is_null() | pl.col("country").str.to_lowercase().is_in(allowed)
            )
        work = frame
        if icp.industries is not None:
            keys = (
                pl.Series("i", icp.industries, dtype=pl.String)
                .to_frame()
                .select(company_key("i"))
                .to_series()
                .to_list()
            )
            if industry is None:
                industry = pl.Series([None] * frame.height, dtype=pl.String)
            work = work.with_columns(industry.alias("__industry"))
            inside = inside & company_key("__industry").is_in(keys).fill_null(False)
        tier: pl.Expr = pl.col("tier")
        for rule in reversed(self.catalog.tiers):
            cond: pl.Expr = pl.lit(True)
            if rule.min_employees is not None:
                cond = cond & (employees >= rule.min_employees).fill_null(False)
            if rule.min_annual_revenue is not None:
                cond = cond & (pl.col("annual_revenue") >= rule.min_annual_revenue).fill_null(False)
            tier = (
                pl.when(pl.col("tier").is_null() & cond)
                .then(pl.lit(rule.tier.value))
                .otherwise(tier)
            )
        on_domain = under_domains(work.select(host_of("domain")).to_series(), self.domains)
        work = work.with_columns(on_domain.alias("__on_domain"))
        suppressed = (
            pl.col("suppressed").fill_null(False)
            | pl.col("__on_domain")
            | pl.col("account_id").is_in(self.account_ids)
        )
        return work.with_columns(
            inside.fill_null(True).alias("in_icp"),
            tier.alias("tier"),
            suppressed.alias("suppressed"),
        ).select(frame.columns)

    def people(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Mark do-not-contact the people whose email (in any case) is suppressed, or is
        at a suppressed domain or under one."""
        email = pl.col("email").str.strip_chars().str.to_lowercase()
        domains = frame.select(email.str.extract(r"@([^@]+)$")).to_series()
        hit = email.is_in(self.emails).fill_null(False) | under_domains(domains, self.domains)
        return frame.with_columns(
            (pl.col("do_not_contact").fill_null(False) | hit).alias("do_not_contact")
        )
