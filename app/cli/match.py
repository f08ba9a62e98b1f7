"""``twoloop match``: extract needs from signals, score, show queues, explain a pair."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from app.cli.common import GraphOption, JsonOption, _open, _print_json, _progress, app, console
from app.cli.reports import _print_queue
from graph_model.settings import load_settings
from matching.derived import link_derived
from matching.indicates import choose_extractors, run_extraction
from matching.read import explain_pair, top_matches
from matching.run import DEFAULT_BATCH, run_matching

match_app = typer.Typer(
    help="Match capabilities to accounts: extract needs from signals, score, explain.",
    no_args_is_help=True,
)
app.add_typer(match_app, name="match")


class ExtractorChoice(StrEnum):
    auto = "auto"
    rules = "rules"
    paraphrase = "paraphrase"
    claude = "claude"


@match_app.command("extract")
def match_extract(
    extractor: Annotated[
        ExtractorChoice,
        typer.Option(
            "--extractor",
            help="auto: Claude when an API key is set, else the offline extractors "
            "(TWOLOOP_OFFLINE_EXTRACTOR); rules: catalog phrases only; paraphrase: the rules "
            "and the local paraphrase extractor.",
        ),
    ] = ExtractorChoice.auto,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Read at most this many signals.")
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Read signals and record the needs they reveal as INDICATES edges (with extractor,
    confidence and a verbatim evidence quote). Reruns change only what changed.

    Exit codes: 0 done; 2 Claude refused the request, no key for --extractor claude, or
    the paraphrase model package is not installed; 3 store or Claude unreachable.
    """
    settings = load_settings()
    use_claude = {"auto": None, "rules": False, "paraphrase": False, "claude": True}[
        extractor.value
    ]
    if extractor in (ExtractorChoice.rules, ExtractorChoice.paraphrase):
        settings = settings.model_copy(update={"offline_extractor": extractor.value})
    with _open(graph) as store:
        chosen = choose_extractors(store, settings, use_claude=use_claude)
        names = [e.name for e in chosen]
        offline = "claude" not in names
        if offline and extractor is ExtractorChoice.auto and not json_output:
            console.print(
                f"[yellow]offline:[/] no Claude API key is set, so the offline extractors run "
                f"({', '.join(names)}; set TWOLOOP_ANTHROPIC_API_KEY for Claude)"
            )
        reports = []
        with _progress(json_output) as progress:
            for one in chosen:
                progress.add_task(f"extracting needs ({one.name})", total=None)
                reports.append(run_extraction(store, one, limit=limit))
            derived = link_derived(store, extractors=chosen)
    if json_output:
        _print_json(
            {
                "graph": store.uri,
                "offline": offline,
                "extractors": names,
                "reports": [r.as_dict() for r in reports],
                **derived.as_dict(),
            }
        )
        return
    for report in reports:
        console.print(
            f"[green]{report.extractor}[/] read {report.signals_read:,} signals: "
            f"{report.findings:,} findings ({report.negated:,} denied phrases skipped, "
            f"{report.rejected:,} answers rejected); {report.written:,} edges written, "
            f"{report.removed:,} removed"
        )
        for note in report.notes:
            console.print(f"• {note}")
    site, champions, offers = derived.site, derived.champions, derived.offers
    if offers.descriptions_read:
        console.print(
            f"vendors: {offers.descriptions_read:,} account descriptions read; "
            f"{offers.written:,} accounts that describe themselves by a need (they sell a "
            f"remedy, sells_it), {offers.removed:,} removed"
        )
    if site.pages:
        console.print(
            f"site pages: {site.visits_read:,} web visits read; {site.written:,} visits to our "
            f"own pages linked to their capability, {site.removed:,} removed"
        )
    if champions.moves_read:
        console.print(
            f"champions: {champions.moves_read:,} job changes say what the person championed; "
            f"{champions.written:,} edges written, {champions.removed:,} removed"
            + (f"; unknown: {', '.join(champions.unknown)}" if champions.unknown else "")
        )


def _as_of(value: str | None) -> dt.datetime | None:
    """An ISO date or datetime (UTC when no zone is given); None stays None."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or datetime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Score as of this ISO date or datetime: recency and 'within' conditions are "
        "measured from it, and deals, losses, signals, activities and job changes after it "
        "do not exist. Default: now.",
        show_default=False,
    ),
]


@match_app.command("run")
def match_run(
    accounts: Annotated[
        str | None,
        typer.Option("--accounts", help="Comma-separated account ids (default: every account)."),
    ] = None,
    as_of: AsOfOption = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Accounts per batch (one commit each).")
    ] = DEFAULT_BATCH,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Score every (account, capability) pair the metapaths reach, explain the ones worth
    surfacing and write them as Match nodes in each owning AM's queue.

    Uses the active score model (twoloop learn), else the prior. Reruns with the same
    graph, model and --as-of write the same matches; decisions already taken are kept.
    """
    when = _as_of(as_of) or dt.datetime.now(dt.UTC)
    wanted = [a.strip() for a in accounts.split(",") if a.strip()] if accounts else None
    with _open(graph) as store, _progress(json_output) as progress:
        task = progress.add_task("matching accounts", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = run_matching(
            store, as_of=when, accounts=wanted, batch_size=batch_size, progress=advance
        )
    if json_output:
        _print_json({"graph": store.uri, **report.as_dict()})
        return
    console.print(
        f"[green]matched[/] {report.accounts:,} accounts in {report.batches} batch(es) with "
        f"model {report.model_version} as of {when.date()}: {report.pairs:,} pairs reached, "
        f"{report.gated:,} blocked by gates, [bold]{report.surfaced:,} surfaced[/] "
        f"({report.weak:,} weak, {report.with_contact:,} with a contact); "
        f"{report.removed:,} stale proposals removed ({report.seconds:.1f}s)"
    )
    if report.by_am:
        table = Table(title="surfaced per AM")
        table.add_column("am_id")
        table.add_column("matches", justify="right")
        for am, n in report.by_am.items():
            table.add_row(am, f"{n:,}")
        console.print(table)


@match_app.command("top")
def match_top(
    am: Annotated[str, typer.Option("--am", help="The account manager's id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many matches.")] = 10,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """An AM's queue: open matches, best first, each with its case and who to contact."""
    with _open(graph) as store:
        rows = top_matches(store, am, limit=limit)
    if json_output:
        _print_json({"am_id": am, "matches": rows})
        return
    if not rows:
        console.print(f"no open matches for {am} (run twoloop match run first?)")
        return
    _print_queue(rows)


@match_app.command("explain")
def match_explain(
    account: Annotated[str, typer.Argument(help="Account id.")],
    capability: Annotated[str, typer.Argument(help="Capability id.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Evaluate live as of this ISO date/datetime instead of reading the stored "
            "match (nothing after it exists, as in match run --as-of).",
            show_default=False,
        ),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Why a capability is (or is not) proposed to an account: score, evidence paths as
    sentences with dates and sources, gates, and who to contact."""
    with _open(graph) as store:
        told = explain_pair(store, account, capability, as_of=_as_of(as_of))
    if json_output:
        _print_json(told)
        return
    console.print(Text(f"{account} <- {capability} ({told['source']})", style="bold"))
    console.print(Text(told["explanation"]), soft_wrap=True)
    for line in told.get("evidence", []):
        console.print(Text("  - " + line), soft_wrap=True)
    contact = told.get("contact")
    if contact:
        console.print(Text("contact: " + contact["reason"]), soft_wrap=True)
