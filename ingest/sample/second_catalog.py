"""The second world's catalog: Halyard Systems, a vendor of operations software for
companies that run plants, fleets, buildings and crews.

Designed apart from the first world (another vendor, other needs and names). Each
capability declares its fit: the industries it is built for, and for some a size or
a region; a ``strict`` fit is part of the world's truth (an account outside it is
never a good match, whatever it needs), a ``soft`` one is a preference only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

VENDOR = {"name": "Halyard Systems", "domain": "halyard.example"}
SITE = "https://halyard.example"

Fit = Literal["strict", "soft"]


@dataclass(frozen=True)
class Need:
    id: str
    name: str
    description: str
    phrases: tuple[str, ...]  # the catalog's words for it


@dataclass(frozen=True)
class Offer:
    """A capability as the vendor's catalog declares it."""

    id: str
    name: str
    description: str
    needs: tuple[str, ...]
    integrations: tuple[str, ...]
    industries: tuple[str, ...]
    personas: tuple[str, ...]
    fit: dict[str, Fit] = field(default_factory=dict)
    min_employees: int | None = None
    max_employees: int | None = None
    countries: tuple[str, ...] | None = None

    def fits(self, industry: str, employees: int, country: str) -> bool:
        """Inside every strict part of the declared fit."""
        if self.fit.get("industries") == "strict" and industry not in self.industries:
            return False
        if self.fit.get("employees") == "strict":
            if self.min_employees is not None and employees < self.min_employees:
                return False
            if self.max_employees is not None and employees > self.max_employees:
                return False
        return not (
            self.fit.get("countries") == "strict"
            and self.countries is not None
            and country not in self.countries
        )


NEEDS: dict[str, Need] = {
    n.id: n
    for n in (
        Need(
            "unplanned-downtime",
            "Unplanned equipment downtime",
            "Production assets stop without warning.",
            ("unplanned downtime", "equipment failures", "machine breakdowns"),
        ),
        Need(
            "technician-scheduling",
            "Field technician scheduling",
            "Service visits are planned by hand and slip.",
            ("technician scheduling", "dispatch delays", "missed service appointments"),
        ),
        Need(
            "fleet-fuel-cost",
            "Fleet fuel cost",
            "Vehicles burn more fuel than the routes need.",
            ("fuel costs", "fleet fuel spend", "idling vehicles"),
        ),
        Need(
            "energy-overspend",
            "Building energy overspend",
            "Buildings use energy nobody asked for.",
            ("energy costs", "energy consumption", "utility bills"),
        ),
        Need(
            "contractor-safety",
            "Contractor safety permits",
            "Outside crews work on live plant without a controlled permit.",
            ("permit to work", "contractor safety", "lockout tagout"),
        ),
        Need(
            "parts-stockouts",
            "Spare-part stockouts",
            "The part a repair needs is not on the shelf.",
            ("spare parts shortages", "parts stockouts", "inventory of spares"),
        ),
        Need(
            "cold-chain-excursions",
            "Cold-chain temperature excursions",
            "Goods that must stay cold warm up in transit or storage.",
            ("temperature excursions", "cold chain breaks", "spoiled shipments"),
        ),
        Need(
            "desk-utilisation",
            "Office space utilisation",
            "Offices are paid for and left empty.",
            ("office utilisation", "desk booking", "empty floors"),
        ),
        Need(
            "contractor-billing",
            "Contractor invoice disputes",
            "Subcontractor invoices do not match the work done.",
            ("invoice disputes", "contractor billing errors", "overbilling by subcontractors"),
        ),
    )
}

EU_AND_UK = ("DE", "FR", "NL", "GB", "SE", "ES", "IT", "PL")

OFFERS: tuple[Offer, ...] = (
    Offer(
        "uptime-sentinel",
        "Uptime Sentinel",
        "Predicts which assets will fail from sensor and work-order history.",
        ("unplanned-downtime", "parts-stockouts"),
        ("OSIsoft PI", "SAP PM", "IBM Maximo"),
        ("Food Production", "Utilities", "Pharmaceuticals", "Oil & Energy", "Chemicals"),
        ("maintenance-lead", "operations-director"),
        fit={"industries": "strict"},
    ),
    Offer(
        "dispatch-board",
        "Dispatch Board",
        "Plans and re-plans field crews' days as jobs come in.",
        ("technician-scheduling",),
        ("ServiceTitan", "Salesforce Field Service", "Google Workspace"),
        ("Facilities Services", "Utilities", "Hospital & Health Care", "Real Estate"),
        ("operations-director", "facilities-lead"),
        fit={"industries": "soft", "employees": "soft"},
        min_employees=50,
    ),
    Offer(
        "route-ledger",
        "Route Ledger",
        "Fuel, routes and idling per vehicle, from the telematics a fleet already has.",
        ("fleet-fuel-cost",),
        ("Samsara", "Geotab"),
        ("Logistics & Supply Chain", "Food Production", "Construction", "Retail"),
        ("fleet-manager", "finance-lead"),
        fit={"industries": "soft", "employees": "strict"},
        min_employees=100,
    ),
    Offer(
        "watt-watch",
        "WattWatch",
        "Meter-level energy monitoring for portfolios of buildings.",
        ("energy-overspend",),
        ("Siemens Desigo", "Schneider EcoStruxure"),
        ("Real Estate", "Retail", "Higher Education", "Hospital & Health Care"),
        ("facilities-lead", "finance-lead"),
        fit={"industries": "soft", "countries": "strict"},
        countries=EU_AND_UK,
    ),
    Offer(
        "permit-desk",
        "Permit Desk",
        "Digital permits, isolations and sign-offs for work on live plant.",
        ("contractor-safety",),
        ("SAP PM", "Procore"),
        ("Construction", "Utilities", "Oil & Energy", "Chemicals"),
        ("hse-lead", "operations-director"),
        fit={"industries": "strict"},
    ),
    Offer(
        "parts-pilot",
        "Parts Pilot",
        "Sets reorder points for spares from failure history and lead times.",
        ("parts-stockouts",),
        ("SAP PM", "Oracle NetSuite"),
        ("Food Production", "Construction", "Utilities", "Chemicals"),
        ("maintenance-lead", "procurement-lead"),
    ),
    Offer(
        "cold-trace",
        "ColdTrace",
        "Temperature loggers and alerts from the cold room to the customer's door.",
        ("cold-chain-excursions",),
        ("Samsara", "Oracle NetSuite"),
        (
            "Food Production",
            "Pharmaceuticals",
            "Hospital & Health Care",
            "Logistics & Supply Chain",
        ),
        ("operations-director", "hse-lead"),
        fit={"industries": "strict"},
    ),
    Offer(
        "floor-sense",
        "FloorSense",
        "Occupancy sensing that sizes offices and switches off what is empty.",
        ("desk-utilisation", "energy-overspend"),
        ("Microsoft 365", "Google Workspace", "Siemens Desigo"),
        ("Real Estate", "Computer Software", "Financial Services", "Higher Education"),
        ("facilities-lead",),
        fit={"industries": "soft", "employees": "strict"},
        min_employees=250,
    ),
    Offer(
        "subcontract-pay",
        "Subcontract Pay",
        "Matches subcontractor invoices to signed-off work before they are paid.",
        ("contractor-billing",),
        ("Procore", "Oracle NetSuite", "SAP S/4HANA"),
        ("Construction", "Facilities Services", "Utilities"),
        ("finance-lead", "procurement-lead"),
        fit={"industries": "soft", "employees": "strict"},
        max_employees=5000,
    ),
)
OFFER = {o.id: o for o in OFFERS}

PERSONAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # id -> (titles, departments)
    "maintenance-lead": (
        ("Maintenance Manager", "Head of Reliability", "Reliability Engineer"),
        ("Maintenance", "Engineering"),
    ),
    "operations-director": (
        ("VP Operations", "Plant Director", "Chief Operating Officer"),
        ("Operations",),
    ),
    "fleet-manager": (("Fleet Manager", "Head of Transport"), ("Transport", "Logistics")),
    "facilities-lead": (
        ("Facilities Director", "Head of Workplace", "Energy Manager"),
        ("Facilities",),
    ),
    "hse-lead": (("HSE Manager", "Safety Director"), ("Health & Safety",)),
    "procurement-lead": (
        ("Procurement Manager", "Head of Supply Chain"),
        ("Procurement", "Supply Chain"),
    ),
    "finance-lead": (("Financial Controller", "CFO"), ("Finance",)),
}

TECHNOLOGIES: dict[str, str] = {
    "OSIsoft PI": "historian",
    "SAP PM": "maintenance",
    "IBM Maximo": "maintenance",
    "ServiceTitan": "field-service",
    "Salesforce Field Service": "field-service",
    "Samsara": "telematics",
    "Geotab": "telematics",
    "Siemens Desigo": "building-management",
    "Schneider EcoStruxure": "building-management",
    "Procore": "construction",
    "Oracle NetSuite": "erp",
    "SAP S/4HANA": "erp",
    "Microsoft 365": "workplace",
    "Google Workspace": "workplace",
}

# The display labels HubSpot exports (and the catalog's names for them).
INDUSTRIES: dict[str, int] = {  # industry -> weight among buyers
    "Food Production": 14,
    "Utilities": 8,
    "Pharmaceuticals": 6,
    "Oil & Energy": 5,
    "Chemicals": 5,
    "Facilities Services": 9,
    "Hospital & Health Care": 9,
    "Real Estate": 10,
    "Logistics & Supply Chain": 11,
    "Construction": 11,
    "Retail": 8,
    "Higher Education": 5,
    "Financial Services": 5,
    "Computer Software": 4,
}
ICP_MIN_EMPLOYEES = 25


def page_slug(offer: Offer) -> str:
    return offer.id


def catalog_document(suppressed_domains: list[str]) -> dict[str, Any]:
    """catalog.yaml: the vendor's own description of what it sells and to whom."""
    capabilities: list[dict[str, Any]] = []
    for o in OFFERS:
        entry: dict[str, Any] = {
            "id": o.id,
            "name": o.name,
            "description": o.description,
            "needs": list(o.needs),
            "integrations": list(o.integrations),
            "industries": list(o.industries),
            "personas": list(o.personas),
        }
        if o.fit:
            entry["fit"] = dict(o.fit)
        if o.min_employees is not None:
            entry["min_employees"] = o.min_employees
        if o.max_employees is not None:
            entry["max_employees"] = o.max_employees
        if o.countries is not None:
            entry["countries"] = list(o.countries)
        entry["site_pages"] = [
            f"{SITE}/pricing/{page_slug(o)}*",
            f"{SITE}/product/{page_slug(o)}*",
        ]
        capabilities.append(entry)
    return {
        "vendor": dict(VENDOR),
        "needs": [
            {"id": n.id, "name": n.name, "description": n.description, "phrases": list(n.phrases)}
            for n in NEEDS.values()
        ],
        "personas": [
            {"id": pid, "titles": list(titles), "departments": list(depts)}
            for pid, (titles, depts) in PERSONAS.items()
        ],
        "capabilities": capabilities,
        "technologies": [{"name": t, "category": c} for t, c in TECHNOLOGIES.items()],
        "industries": list(INDUSTRIES),
        "icp": {"min_employees": ICP_MIN_EMPLOYEES},
        "tiers": [
            {"tier": "A", "min_employees": 10000},
            {"tier": "B", "min_employees": 1000},
            {"tier": "C"},
        ],
        "suppression": {
            "domains": ["keelhaul.example", *suppressed_domains],
            "emails": ["legal@keelhaul.example"],
        },
    }
