"""The first world's catalog: a data-platform vendor (Northwind Data), its needs,
capabilities, personas, technologies and industries, and the products its CRM sells."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

# need id -> (name, catalog phrases, paraphrases the world actually uses)
NEEDS: dict[str, tuple[str, list[str], list[str]]] = {
    "pipeline-reliability": (
        "Pipeline reliability",
        ["pipeline failures", "broken data pipelines"],
        [
            "our nightly loads keep falling over and someone has to restart them by hand",
            "dashboards were stale again this morning because the overnight jobs died",
            "the data team spends every Monday re-running syncs that failed over the weekend",
            "ingestion jobs time out whenever order volume spikes",
            "we are hiring engineers whose first job will be to stop our ETL from breaking",
            "half of our connectors were written in-house and nobody wants to maintain them",
        ],
    ),
    "data-quality": (
        "Data quality",
        ["data quality issues", "bad data"],
        [
            "finance found duplicate invoices in the warehouse two quarters in a row",
            "the numbers in the board deck did not match what the CRM said",
            "customers received emails addressed to the wrong name after a bad import",
            "we cannot trust the revenue table without a week of manual checks",
        ],
    ),
    "warehouse-cost": (
        "Warehouse cost control",
        ["warehouse costs", "cloud data spend"],
        [
            "our Snowflake bill doubled this quarter and the CFO wants to know why",
            "compute credits are burning much faster than we budgeted",
            "we were asked to cut analytics infrastructure spend by a third",
        ],
    ),
    "realtime-analytics": (
        "Real-time analytics",
        ["real-time analytics", "streaming data"],
        [
            "operations wants to see orders as they happen, not the next morning",
            "batch latency is hurting our fraud detection",
            "we are moving from hourly batches to event streams this year",
        ],
    ),
    "governance-lineage": (
        "Governance and lineage",
        ["data lineage", "data governance"],
        [
            "auditors asked where a revenue figure came from and nobody could say",
            "we cannot trace which reports depend on the customer table",
            "a schema change upstream silently broke regulatory reports",
        ],
    ),
    "privacy-compliance": (
        "Privacy compliance",
        ["gdpr compliance", "pii protection"],
        [
            "legal is worried about personal data copied into a dozen tools",
            "answering a single access request took us three weeks",
            "the regulator's new guidance means we must mask patient identifiers everywhere",
        ],
    ),
    "reverse-etl": (
        "Warehouse data in business tools",
        ["reverse etl", "sync warehouse to crm"],
        [
            "sales cannot see product usage inside Salesforce",
            "marketing exports spreadsheets from the warehouse by hand every week",
            "account managers asked for health scores in the CRM, not in a dashboard",
        ],
    ),
    "cdc-replication": (
        "Database replication",
        ["change data capture", "database replication"],
        [
            "copying Postgres tables to the warehouse takes a full reload every night",
            "the reporting replica is always hours behind production",
        ],
    ),
    "self-serve-bi": (
        "Self-serve analytics",
        ["self-serve analytics", "dashboard backlog"],
        [
            "the analytics team has a six-week queue of report requests",
            "business users wait days for simple numbers",
        ],
    ),
    "ml-features": (
        "Machine-learning features",
        ["feature store", "ml features"],
        [
            "our data scientists rebuild the same customer features for every model",
            "models behave differently in production than in training",
        ],
    ),
    "observability": (
        "Data observability",
        ["data observability", "data downtime"],
        [
            "we learn about broken tables from angry executives",
            "nobody notices when a source stops sending rows until a report looks odd",
        ],
    ),
    "legacy-migration": (
        "Legacy platform migration",
        ["legacy migration", "hadoop migration"],
        [
            "the on-premises Hadoop cluster reaches end of life next year",
            "we are finally retiring the old Teradata appliance",
        ],
    ),
}

# id, name, needs, integrations, industries, personas, description
CAPABILITIES: list[tuple[str, str, list[str], list[str], list[str], list[str], str]] = [
    (
        "managed-ingest",
        "Managed Ingest",
        ["pipeline-reliability", "cdc-replication"],
        ["Snowflake", "Postgres", "Salesforce"],
        ["Software", "Retail", "Logistics"],
        ["data-leader"],
        "Managed connectors that keep loading when sources change.",
    ),
    (
        "gtx-pro",
        "GTX Pro",
        ["realtime-analytics"],
        ["Kafka"],
        ["Financial Services", "Retail"],
        ["data-leader"],
        "A streaming engine for live metrics.",
    ),
    (
        "quality-monitor",
        "Data Quality Monitor",
        ["data-quality"],
        ["Snowflake", "BigQuery"],
        ["Financial Services", "Healthcare", "Software"],
        ["data-leader", "analytics-leader"],
        "Tests and anomaly checks on every table.",
    ),
    (
        "cost-optimizer",
        "Warehouse Cost Optimizer",
        ["warehouse-cost"],
        ["Snowflake", "BigQuery"],
        ["Software", "Retail"],
        ["data-leader", "finance-leader"],
        "Finds and removes waste in warehouse spend.",
    ),
    (
        "lineage",
        "Lineage & Governance",
        ["governance-lineage"],
        ["Snowflake", "Databricks"],
        ["Financial Services", "Healthcare", "Insurance"],
        ["data-leader", "security-leader"],
        "Column-level lineage and policy controls.",
    ),
    (
        "privacy-vault",
        "Privacy Vault",
        ["privacy-compliance"],
        ["Postgres", "Snowflake"],
        ["Healthcare", "Financial Services", "Insurance"],
        ["security-leader"],
        "Tokenises personal data before it spreads.",
    ),
    (
        "reverse-sync",
        "Reverse Sync",
        ["reverse-etl"],
        ["Salesforce", "HubSpot"],
        ["Software", "Retail"],
        ["revops-leader"],
        "Pushes warehouse data into business tools.",
    ),
    (
        "cdc-stream",
        "CDC Stream",
        ["cdc-replication"],
        ["Postgres", "MySQL", "Kafka"],
        ["Software", "Logistics", "Financial Services"],
        ["data-leader"],
        "Log-based change data capture.",
    ),
    (
        "insight-hub",
        "Insight Hub",
        ["self-serve-bi"],
        ["Tableau", "Looker"],
        ["Retail", "Manufacturing", "Logistics"],
        ["analytics-leader"],
        "Governed self-serve analytics.",
    ),
    (
        "feature-store",
        "Feature Store",
        ["ml-features"],
        ["Databricks"],
        ["Software", "Financial Services"],
        ["data-leader"],
        "Shared features for ML teams.",
    ),
    (
        "pipeline-observability",
        "Pipeline Observability",
        ["observability"],
        ["Snowflake", "Databricks", "Kafka"],
        ["Software", "Logistics"],
        ["data-leader"],
        "Alerts before data downtime reaches a dashboard.",
    ),
    (
        "migration-factory",
        "Migration Factory",
        ["legacy-migration"],
        ["Hadoop", "Teradata"],
        ["Manufacturing", "Insurance", "Financial Services"],
        ["data-leader"],
        "Moves legacy platforms to the cloud.",
    ),
]

PERSONAS = [
    {
        "id": "data-leader",
        "titles": [
            "Head of Data",
            "VP Data",
            "Director of Data Engineering",
            "Chief Data Officer",
            "Data Engineering Manager",
        ],
        "departments": ["Data", "Engineering"],
        "seniorities": ["manager", "director", "vp", "executive"],
    },
    {
        "id": "analytics-leader",
        "titles": ["Head of Analytics", "Director of BI", "Analytics Manager"],
        "departments": ["Analytics", "Data"],
        "seniorities": ["manager", "director", "vp"],
    },
    {
        "id": "security-leader",
        "titles": ["CISO", "Data Protection Officer", "Head of Security"],
        "departments": ["Security", "Legal"],
        "seniorities": ["director", "vp", "executive"],
    },
    {
        "id": "revops-leader",
        "titles": ["VP Revenue Operations", "Sales Operations Director"],
        "departments": ["Revenue Operations", "Sales"],
        "seniorities": ["director", "vp"],
    },
    {
        "id": "finance-leader",
        "titles": ["CFO", "VP Finance"],
        "departments": ["Finance"],
        "seniorities": ["vp", "executive"],
    },
]

TECHNOLOGIES = {
    "Snowflake": "warehouse",
    "BigQuery": "warehouse",
    "Databricks": "lakehouse",
    "Postgres": "database",
    "MySQL": "database",
    "Kafka": "streaming",
    "Salesforce": "crm",
    "HubSpot": "crm",
    "Tableau": "bi",
    "Looker": "bi",
    "Hadoop": "legacy",
    "Teradata": "legacy",
}
INDUSTRIES = [
    "Software",
    "Financial Services",
    "Retail",
    "Healthcare",
    "Logistics",
    "Manufacturing",
    "Insurance",
]
INDUSTRY_TYPOS = {
    "Software": ["Sofware", "software ", "Soft-ware"],
    "Financial Services": ["Financial Servics", "financial services"],
    "Retail": ["Retial"],
    "Healthcare": ["Health care", "Heathcare"],
    "Logistics": ["Logisitcs"],
    "Manufacturing": ["Manufacturng"],
    "Insurance": ["Insurace"],
}
PRODUCT_VARIANTS = {
    "managed-ingest": ["Managed Ingest", "Managed  Ingest"],
    "gtx-pro": ["GTX Pro", "GTXPro", "GTX-Pro"],
    "quality-monitor": ["Data Quality Monitor"],
    "cost-optimizer": ["Warehouse Cost Optimizer"],
    "lineage": ["Lineage & Governance", "Lineage and Governance"],
    "privacy-vault": ["Privacy Vault"],
    "reverse-sync": ["Reverse Sync", "ReverseSync"],
    "cdc-stream": ["CDC Stream"],
    "insight-hub": ["Insight Hub", "InsightHub"],
    "feature-store": ["Feature Store"],
    "pipeline-observability": ["Pipeline Observability"],
    "migration-factory": ["Migration Factory"],
}
COMPETITORS = ["rivaldata.example", "otherpipes.example"]

Capability = tuple[str, str, list[str], list[str], list[str], list[str], str]
EDITIONS = ["Cloud", "Enterprise", "Edge", "Lite", "Plus"]


def capability_table(n: int = len(CAPABILITIES)) -> list[Capability]:
    """The catalog's capabilities: the twelve above, then (for larger benchmarks)
    editions of them that address the same needs with rotated integrations and
    industries, so each edition reaches a different set of accounts."""
    if n < 1:
        raise ValueError("capabilities must be at least 1")
    table: list[Capability] = list(CAPABILITIES[:n])
    techs, k = list(TECHNOLOGIES), len(CAPABILITIES)
    while len(table) < n:
        base = CAPABILITIES[k % len(CAPABILITIES)]
        edition = EDITIONS[(k // len(CAPABILITIES) - 1) % len(EDITIONS)]
        shift = k // len(CAPABILITIES)
        integrations = sorted(
            {techs[(techs.index(t) + shift) % len(techs)] for t in base[3]} | {base[3][0]}
        )
        industries = sorted(
            {INDUSTRIES[(INDUSTRIES.index(i) + shift) % len(INDUSTRIES)] for i in base[4]}
        )
        table.append(
            (
                f"{base[0]}-{edition.lower()}-{k}",
                f"{base[1]} {edition} {k}",
                list(base[2]),
                integrations,
                industries,
                list(base[5]),
                f"{base[6]} {edition} edition.",
            )
        )
        k += 1
    return table


def catalog_document(caps: Sequence[Capability]) -> dict[str, Any]:
    technologies = [{"name": n, "category": c} for n, c in TECHNOLOGIES.items()]
    return {
        "vendor": {"name": "Northwind Data", "domain": "northwind.example"},
        "needs": [
            {"id": nid, "name": name, "phrases": phrases}
            for nid, (name, phrases, _para) in NEEDS.items()
        ],
        "personas": PERSONAS,
        "capabilities": [
            {
                "id": cid,
                "name": name,
                "description": desc,
                "needs": needs,
                "integrations": integ,
                "industries": inds,
                "personas": personas,
            }
            for cid, name, needs, integ, inds, personas, desc in caps
        ],
        "technologies": technologies,
        "industries": INDUSTRIES,
        "icp": {"min_employees": 50},
        "tiers": [
            {"tier": "A", "min_employees": 5000},
            {"tier": "B", "min_employees": 500},
            {"tier": "C"},
        ],
        "suppression": {"domains": list(COMPETITORS), "emails": ["privacy@rivaldata.example"]},
    }


def tech_p(tech: str, industry: str) -> float:
    base = {
        "Snowflake": 0.35,
        "BigQuery": 0.15,
        "Databricks": 0.15,
        "Postgres": 0.5,
        "MySQL": 0.25,
        "Kafka": 0.2,
        "Salesforce": 0.45,
        "HubSpot": 0.2,
        "Tableau": 0.2,
        "Looker": 0.15,
        "Hadoop": 0.05,
        "Teradata": 0.03,
    }[tech]
    if industry in ("Manufacturing", "Insurance") and tech in ("Hadoop", "Teradata"):
        base += 0.15
    return base


def product_variants(caps: Sequence[Capability]) -> dict[str, list[str]]:
    return {c[0]: PRODUCT_VARIANTS.get(c[0], [c[1]]) for c in caps}


def product_prefix(cap: str, caps: Sequence[Capability]) -> str:
    """The product id stem: the first six letters for the base twelve, plus the
    edition's position for the editions (whose first six letters repeat)."""
    if cap in PRODUCT_VARIANTS:
        return cap[:6].upper()
    return f"{cap[:6].upper()}X{next(i for i, c in enumerate(caps) if c[0] == cap)}"


def product_id(cap: str, caps: Sequence[Capability], rng: random.Random) -> str:
    variants = PRODUCT_VARIANTS.get(cap, [cap])
    return f"01t{product_prefix(cap, caps)}{rng.randrange(len(variants))}"
