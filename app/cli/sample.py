"""``twoloop sample``: write the generated sample world."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import TaskID

from app.cli.common import JsonOption, _print_json, _progress, app, console
from ingest.sample import SampleSummary, write_sample, write_second_sample

World = Literal["first", "second"]


@app.command("sample")
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world into.")],
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="How many accounts.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    world: Annotated[
        World,
        typer.Option(
            "--world",
            help="first: the data-platform world (Salesforce exports, make demo's); "
            "second: the independently designed operations-software world (HubSpot exports).",
        ),
    ] = "first",
    contacts: Annotated[
        int | None,
        typer.Option(
            "--contacts-per-account", min=1, help="Contacts per account (first world; 10)."
        ),
    ] = None,
    signals: Annotated[
        int | None,
        typer.Option(
            "--signals-per-account",
            min=1,
            help="Signals per account, at least (first world; 20).",
        ),
    ] = None,
    capabilities: Annotated[
        int | None,
        typer.Option(
            "--capabilities",
            min=1,
            help="Catalog size (first world; 12); above 12 adds editions of the 12 "
            "(for benchmarks).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a realistic input set, an ingest.yaml for it and a separate ground_truth.csv:
    the first world (dirty Salesforce-style CSVs, job changes, signals JSONL, a catalog)
    or, with --world second, an independently designed one (HubSpot exports)."""
    with _progress(json_output) as progress:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = _write(out, world, accounts, seed, contacts, signals, capabilities, hook)
    if json_output:
        _print_json(summary.as_dict())
        return
    console.print(
        f"[green]wrote[/] {summary.accounts:,} accounts, {summary.contacts:,} contacts, "
        f"{summary.signals:,} signals, {summary.opportunities:,} deals to {out}"
    )
    console.print(f"ingest it: twoloop ingest run --config {out / 'ingest.yaml'}")
    console.print(
        f"ground truth ({summary.ground_truth_pairs:,} good pairs): "
        f"{out / 'ground_truth.csv'} (never ingested)"
    )


def _write(
    out: Path,
    world: World,
    accounts: int,
    seed: int,
    contacts: int | None,
    signals: int | None,
    capabilities: int | None,
    hook: Callable[[str, int, int], None],
) -> SampleSummary:
    if world == "second":
        shaped = [
            flag
            for flag, value in (
                ("--contacts-per-account", contacts),
                ("--signals-per-account", signals),
                ("--capabilities", capabilities),
            )
            if value is not None
        ]
        if shaped:
            raise typer.BadParameter(
                f"{', '.join(shaped)} shape(s) the first world only; the second world "
                "takes --accounts and --seed",
                param_hint="--world",
            )
        return write_second_sample(out, accounts=accounts, seed=seed, progress=hook)
    return write_sample(
        out,
        accounts=accounts,
        seed=seed,
        contacts_per_account=contacts or 10,
        signals_per_account=signals or 20,
        capabilities=capabilities or 12,
        progress=hook,
    )
