"""The analysis API: what the console's team and outcomes pages and the analysts'
notebooks read. Pure reads over a GraphStore (the embedded store and Neo4j alike)
returning polars frames or bounded networkx graphs; no notebook needs Cypher or a
file path.

- ``frames``: accounts, matches, routes, decisions, drafts and sends, with their
  joins made (names, owners, the match a draft or decision is about);
- ``outcomes``: what became of the matches (``match_outcomes``, ``funnel``),
  acceptance by group and by score band (``acceptance``, ``calibration``);
- ``versions``: the score model's versions; ``team``: the team page's numbers;
- ``signals``: extraction findings and coverage, extractor against extractor, the
  sentences behind killed matches;
- ``networks``: neighbourhoods, the schema, org charts, job moves, moved champions
  and communities, as networkx graphs that refuse to load the whole graph;
- ``pictures``: interactive (neo4j-viz) and static (matplotlib) drawings, PNGs;
- ``whatif``: a changed routing policy on the current matches;
- ``backtests``: the backtest over several cut-offs.

Every public function has an example; ``tests/integration/test_analysis_examples.py``
runs them on both stores.
"""

from app.analysis.backtests import backtest_series, cutoffs_between
from app.analysis.frames import (
    accounts,
    data_now,
    decisions,
    drafts,
    known_account,
    known_am,
    matches,
    moment,
    routes,
    sends,
)
from app.analysis.networks import (
    GraphTooLarge,
    communities,
    job_moves,
    move_network,
    moved_champions,
    neighbourhood,
    org_chart,
    schema_graph,
)
from app.analysis.outcomes import (
    GROUPS,
    STAGES,
    acceptance,
    calibration,
    funnel,
    funnel_stages,
    match_outcomes,
)
from app.analysis.signals import (
    extraction_coverage,
    extractor_agreement,
    findings,
    killed_evidence,
)
from app.analysis.team import team_stats
from app.analysis.versions import learning_versions
from app.analysis.whatif import (
    action_changes,
    policy_from_text,
    policy_whatif,
    summarize,
    whatif_by_am,
)

__all__ = [
    "GROUPS",
    "STAGES",
    "GraphTooLarge",
    "acceptance",
    "accounts",
    "action_changes",
    "backtest_series",
    "calibration",
    "communities",
    "cutoffs_between",
    "data_now",
    "decisions",
    "drafts",
    "extraction_coverage",
    "extractor_agreement",
    "findings",
    "funnel",
    "funnel_stages",
    "job_moves",
    "killed_evidence",
    "known_account",
    "known_am",
    "learning_versions",
    "match_outcomes",
    "matches",
    "moment",
    "move_network",
    "moved_champions",
    "neighbourhood",
    "org_chart",
    "policy_from_text",
    "policy_whatif",
    "routes",
    "schema_graph",
    "sends",
    "summarize",
    "team_stats",
    "whatif_by_am",
]
