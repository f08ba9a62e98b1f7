"""The second world's words: how its companies talk about their problems (never in
the catalog's phrases), how vendors market the same problems, what a company says
once a problem is fixed or was never there, and its names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Voice:
    """How one need sounds in this world."""

    complaints: tuple[str, ...]  # first person, in the company's own words
    duties: tuple[str, ...]  # what a job posting asks a hire to fix
    topics: tuple[str, ...]  # what an intent provider calls the research
    pitch: tuple[str, ...]  # marketing copy of a company that sells the remedy
    fixed: tuple[str, ...]  # said once the problem is gone
    denial: tuple[str, ...]  # said by a company that does not have it


VOICES: dict[str, Voice] = {
    "unplanned-downtime": Voice(
        complaints=(
            "line two stopped twice this week and nobody saw it coming",
            "we lost a full shift when the main compressor seized on Tuesday",
            "our packing line halts without warning more often than it runs a clean week",
            "the night crew keeps finding pumps that quit hours before anyone noticed",
            "we only learn a gearbox is worn when it grinds to a stop",
            "output targets slipped again because the mixers kept tripping out",
        ),
        duties=(
            "move our plant from run-to-failure to planned interventions",
            "cut the hours our lines stand idle waiting for a repair",
        ),
        topics=("condition monitoring", "vibration analysis for rotating assets"),
        pitch=(
            "Our platform eliminates unplanned downtime by flagging equipment failures weeks early",
            "We help plant managers end machine breakdowns with AI that listens to every motor",
            "Stop unplanned downtime: our sensors predict equipment failures before they happen",
        ),
        fixed=(
            "since the new monitoring went live last year our lines have not stopped by surprise",
            "stoppages that used to cost us a shift a month are now a thing of the past",
        ),
        denial=(
            "we have had no unplanned downtime on the lines in over two years",
            "equipment failures are not an issue for us, our uptime is above 99 percent",
        ),
    ),
    "technician-scheduling": Voice(
        complaints=(
            "customers wait at home all day because we cannot promise an arrival window",
            "our coordinators rebuild the engineers' rota on a whiteboard every morning",
            "half the callouts go to whoever answers the phone, not whoever is closest",
            "we drove an engineer two hours across the county for a job next door to another",
            "the service desk double-booked the same fitter three times last week",
        ),
        duties=(
            "own the daily plan for forty mobile engineers and stop the overbooking",
            "bring our callout planning out of spreadsheets",
        ),
        topics=("mobile workforce planning", "service appointment windows"),
        pitch=(
            "Say goodbye to dispatch delays and missed service appointments",
            "Our technician scheduling engine fills every van's day automatically",
        ),
        fixed=("since we reorganised the service desk last year every visit lands in its window",),
        denial=(
            "missed service appointments are rare here, our crews run to the minute",
            "we have no trouble with technician scheduling",
        ),
    ),
    "fleet-fuel-cost": Voice(
        complaints=(
            "diesel is now our second biggest line after wages and it keeps climbing",
            "drivers leave engines running at every drop and we pay for every minute",
            "our trucks take the long way because the routes were drawn in 2015",
            "the finance team flagged the pump receipts as the fastest growing cost we have",
            "we refuel the vans twice as often as the mileage says we should",
        ),
        duties=(
            "bring down what our two hundred vehicles burn per delivery",
            "build the reporting on consumption per route that we never had",
        ),
        topics=("route optimisation", "telematics fuel reporting"),
        pitch=(
            "Cut fleet fuel spend by a fifth with routes that avoid idling vehicles",
            "Fuel costs out of control? Our telematics add-on pays for itself in a quarter",
        ),
        fixed=("after last year's routing project our consumption per drop fell by 18 percent",),
        denial=("fuel costs are well under control for our fleet",),
    ),
    "energy-overspend": Voice(
        complaints=(
            "the heating runs full blast on floors nobody has used since spring",
            "our electricity invoice for the stores rose 40 percent and we cannot say why",
            "the lights in the warehouse stay on all weekend",
            "landlords keep passing on service charges for power our tenants never asked for",
            "we have no idea which building in the portfolio burns the most",
        ),
        duties=(
            "find where our buildings waste power and switch it off",
            "report consumption per site to the board every month",
        ),
        topics=("building decarbonisation", "sub-metering"),
        pitch=(
            "Slash energy costs across your estate with meter-level insight",
            "We cut utility bills for landlords by tracking energy consumption room by room",
        ),
        fixed=("our new building controls brought the power bill back under budget last year",),
        denial=(
            "energy costs are not where our problems are",
            "our utility bills have been flat for three years",
        ),
    ),
    "contractor-safety": Voice(
        complaints=(
            "an outside crew opened a live valve last month because the paperwork was lost",
            "our safety sign-offs are still carbon copies in a binder at the gate",
            "the regulator asked who isolated the line before the repair and we could not say",
            "we had two near misses with contractors working on energised equipment",
            "nobody knows which visiting crews are on site at any moment",
        ),
        duties=(
            "replace our paper isolation process before the next audit",
            "make sure no outside crew touches plant that is still live",
        ),
        topics=("isolation management", "contractor onboarding on site"),
        pitch=(
            "Digital permit to work and lockout tagout for every contractor on site",
            "Contractor safety made simple: our app tracks every isolation",
        ),
        fixed=("since we went paperless on site last year every isolation is signed and traced",),
        denial=(
            "contractor safety on our sites has never been an issue",
            "we do not have any trouble with permit to work",
        ),
    ),
    "parts-stockouts": Voice(
        complaints=(
            "the repair took ten minutes and the wait for a bearing took nine days",
            "our storeroom is full of parts we never use and empty of the ones we need",
            "a seal worth twelve euros kept a whole line down for a week",
            "we keep airfreighting spares from Germany at four times the price",
        ),
        duties=(
            "set the right stock levels for thousands of maintenance items",
            "stop emergency orders for components we should have had on hand",
        ),
        topics=("MRO inventory optimisation", "critical spares planning"),
        pitch=(
            "Never face parts stockouts again: reorder points that learn",
            "Our inventory of spares software ends spare parts shortages for good",
        ),
        fixed=("last year's storeroom overhaul means the critical spares are always on the shelf",),
        denial=("spare parts shortages are not something we deal with",),
    ),
    "cold-chain-excursions": Voice(
        complaints=(
            "we binned a whole trailer of yoghurt after the fridge unit quit on the motorway",
            "a pallet of vaccines arrived warm and we only found out at the pharmacy",
            "our cold rooms drift above eight degrees at night and nobody is alerted",
            "customers reject a load a week because the logger printouts look wrong",
            "we still check the chillers with a clipboard twice a day",
        ),
        duties=(
            "keep our products cold from the plant to the shelf and prove it",
            "take the temperature logs off paper",
        ),
        topics=("GDP compliance monitoring", "reefer temperature tracking"),
        pitch=(
            "End temperature excursions and spoiled shipments with live loggers",
            "Cold chain breaks cost you customers; our sensors catch them in real time",
        ),
        fixed=("since the new loggers went in last year no load has been rejected for warmth",),
        denial=("we have no trouble with temperature excursions in our network",),
    ),
    "desk-utilisation": Voice(
        complaints=(
            "we pay rent on four floors and on a Friday we fill half of one",
            "people come in and cannot find a desk on Tuesdays but the office is empty on Fridays",
            "the lease renewal is next year and we have no data on who actually comes in",
            "meeting rooms are booked all day and stand empty",
        ),
        duties=(
            "decide how much office we really need before the lease break",
            "measure how our hybrid teams use the building",
        ),
        topics=("hybrid workplace strategy", "occupancy analytics"),
        pitch=(
            "Fix office utilisation with desk booking that sizes your floors",
            "Empty floors are costing you; our sensors show exactly where",
        ),
        fixed=("we handed back two floors last year once we saw how people use the office",),
        denial=("our office utilisation is excellent, every floor is busy",),
    ),
    "contractor-billing": Voice(
        complaints=(
            "we paid a scaffolding firm twice for the same week and found out at year end",
            "our site managers sign timesheets they never checked against the work",
            "every quarter finance spends weeks arguing with subcontractors over hours",
            "subbies bill us for materials the site never received",
        ),
        duties=(
            "check every subcontractor claim against what was built before we pay it",
            "shorten the month-end fights over subcontractor accounts",
        ),
        topics=("subcontractor payment controls", "construction accounts payable"),
        pitch=(
            "Stop invoice disputes and contractor billing errors with automatic matching",
            "Overbilling by subcontractors ends here: we check every claim",
        ),
        fixed=("after moving to valuation-based payments last year the disputes stopped",),
        denial=("contractor billing errors are not an issue for our finance team",),
    ),
}

# Wrappers per register: the same complaint sounds different in a post, a call and a filing.
POST = (
    "{c}. Again.",
    "Third week in a row: {c}.",
    "Anyone else dealing with this? {c}.",
    "Not a great morning, {c}.",
)
QUOTE = (
    'On the results call the COO said "{c}".',
    '"{c}," the operations director told the trade press.',
    "At the investor day management admitted that {c}.",
)
FILING = (
    "Risk factors: {c}; the board has asked for a plan.",
    "Among next year's priorities: making sure that no longer happens ({c}).",
)
FORUM = (
    "Question for the community: {c}. What did you do about it?",
    "Looking for advice, {c}.",
)
HIRING = (
    "{name} is hiring a {role}. You will {d}.",
    "Join {name} as {role} and {d}.",
)
ROLES = ("Reliability Engineer", "Operations Analyst", "Continuous Improvement Lead")

NOISE: tuple[tuple[str, str, str | None], ...] = (
    # kind, title, text
    ("news", "{name} opens a new site in {city}", "{name} said the site adds 80 jobs."),
    ("news", "{name} wins a regional award", "The award recognises {name}'s apprentices."),
    ("post", "", "Proud of the team at {name} for the charity run in {city}!"),
    ("post", "", "We are at the trade fair in {city} this week, come and say hello."),
    ("job_posting", "{name} is hiring a receptionist", "Front desk role in {city}."),
    ("job_posting", "{name} is hiring an HR advisor", "Join our people team in {city}."),
    ("funding", "{name} refinances its debt", "{name} agreed a new credit facility."),
    ("news", "{name} publishes its sustainability report", None),
)
CITIES = ("Lyon", "Gdansk", "Leeds", "Porto", "Utrecht", "Malmo", "Turin", "Calgary", "Curitiba")

FIRST = (
    "Astrid", "Bartek", "Chiamaka", "Dario", "Eero", "Fatou", "Gustavo", "Hana", "Ikaika",
    "Joanna", "Kwame", "Lucía", "Mats", "Nkechi", "Oskar", "Paulina", "Quentin", "Rafaela",
    "Sven", "Thandiwe", "Ulrike", "Vikram", "Wiktoria", "Yusuf", "Zofia", "Anouk", "Bruno",
    "Camila", "Dmitri", "Elif",
)  # fmt: skip
LAST = (
    "Lindqvist", "Kowalczyk", "Okafor", "Ferreira", "Virtanen", "Diallo", "Moreau", "Tanaka",
    "Kahale", "Nowak", "Mensah", "Herrera", "Berg", "Eze", "Holm", "Zielinska", "Lambert",
    "Souza", "Dahl", "Ndlovu", "Brandt", "Iyer", "Wojcik", "Demir", "Sato", "Visser", "Costa",
    "Aguilar", "Petrov", "Yilmaz",
)  # fmt: skip
GENERIC_TITLES = (
    "Office Manager", "HR Business Partner", "Marketing Coordinator", "Site Supervisor",
    "Shift Lead", "Planner", "Buyer", "IT Manager", "Customer Service Lead", "Accountant",
)  # fmt: skip
TOWN = (
    "Brightwater", "Kestrel", "Ironbark", "Northgate", "Saltmarsh", "Redhill", "Foxglove",
    "Harrow", "Linden", "Greystone", "Ashford", "Millbrook", "Oakhaven", "Silverdale",
    "Thornbury", "Westmoor", "Bramble", "Coldstream", "Elmstead", "Fairholm",
)  # fmt: skip
TRADE: dict[str, tuple[str, ...]] = {
    "Food Production": ("Dairies", "Foods", "Bakeries", "Creamery", "Meats"),
    "Utilities": ("Water", "Grid", "Power", "Utilities"),
    "Pharmaceuticals": ("Pharma", "Laboratories", "Biologics"),
    "Oil & Energy": ("Energy", "Petroleum", "Offshore"),
    "Chemicals": ("Chemicals", "Coatings", "Polymers"),
    "Facilities Services": ("Facilities", "Property Services", "Cleaning Co"),
    "Hospital & Health Care": ("Health", "Hospitals", "Care Group", "Clinics"),
    "Real Estate": ("Properties", "Estates", "REIT", "Land"),
    "Logistics & Supply Chain": ("Freight", "Haulage", "Logistics", "Distribution"),
    "Construction": ("Builders", "Construction", "Civils", "Contractors"),
    "Retail": ("Stores", "Markets", "Retail", "Outfitters"),
    "Higher Education": ("University", "College", "Institute"),
    "Financial Services": ("Bank", "Mutual", "Capital"),
    "Computer Software": ("Digital", "Systems", "Cloud"),
}
VENDOR_STEMS = (
    "Uptimely", "Fuelwise", "Coldlink", "Permitly", "Shelfsure", "Crewflow", "Wattly",
    "Deskcount", "Claimcheck", "Sensify", "Gearmind", "Routewise", "Chillog", "Spacewise",
)  # fmt: skip
VENDOR_SUFFIX = ("Software", "Labs", "AI", "Technologies")

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "Food Production": ("Family-owned producer with {n} plants.", "Co-operative of dairy farms."),
    "Utilities": ("Regional water and wastewater utility.", "Distribution network operator."),
    "Pharmaceuticals": ("Contract manufacturer of sterile injectables.",),
    "Oil & Energy": ("Upstream operator with onshore fields.", "Fuel terminal operator."),
    "Chemicals": ("Specialty coatings manufacturer.",),
    "Facilities Services": ("Integrated facilities services for offices and schools.",),
    "Hospital & Health Care": ("Group of {n} private hospitals.", "Regional care provider."),
    "Real Estate": ("Owner of {n} office buildings.", "Shopping centre landlord."),
    "Logistics & Supply Chain": ("Temperature-controlled haulier.", "Pallet network member."),
    "Construction": ("Civil engineering contractor.", "Housebuilder with {n} active sites."),
    "Retail": ("Chain of {n} garden centres.", "Regional grocery chain."),
    "Higher Education": ("Public university with {n} campuses.",),
    "Financial Services": ("Building society with {n} branches.",),
    "Computer Software": ("Software company.",),
}
