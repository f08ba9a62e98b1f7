"""``twoloop sample``: write the generated sample world."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from app.cli.common import JsonOption, _print_json, _progress, app, console
from ingest.sample import write_sample


@app.command("sample")
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the world into.")],
    accounts: Annotated[int, typer.Option("--accounts", min=1, help="How many accounts.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    contacts: Annotated[
        int, typer.Option("--contacts-per-account", min=1, help="Contacts per account.")
    ] = 10,
    signals: Annotated[
        int, typer.Option("--signals-per-account", min=1, help="Signals per account (at least).")
    ] = 20,
    capabilities: Annotated[
        int,
        typer.Option(
            "--capabilities",
            min=1,
            help="Catalog size; above 12 adds editions of the 12 (for benchmarks).",
        ),
    ] = 12,
    json_output: JsonOption = False,
) -> None:
    """Write a realistic, dirty input set (Salesforce-style CSVs, job changes, signals
    JSONL, a catalog), an ingest.yaml for it and a separate ground_truth.csv."""
    with _progress(json_output) as progress:
        tasks: dict[str, TaskID] = {}

        def hook(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = write_sample(
            out,
            accounts=accounts,
            seed=seed,
            contacts_per_account=contacts,
            signals_per_account=signals,
            capabilities=capabilities,
            progress=hook,
        )
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
