"""``twoloop plays write``: plain-English instructions -> plays and policy rules, shown
as a YAML diff with a simulation, written only when you confirm."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from app.cli.common import GraphOption, JsonOption, NowOption, _now, _open, _print_json, console
from app.cli.plays import plays_app
from graph_model.settings import load_settings
from routing.play_fire import simulate_plays
from routing.plays import DEFAULT_FILE as SHIPPED_PLAYS
from routing.policy import DEFAULT_FILE as SHIPPED_POLICY
from routing.policy import load_policy
from routing.simulate import simulate
from routing.workflows import (
    check_proposal,
    edited_text,
    play_reference,
    policy_reference,
    proposal_schema,
    unified_diff,
)


def _targets(plays: Path | None, policy: Path | None, out_dir: Path) -> dict[str, Path]:
    """Where the plays and the policy are read from, and written to: never into the
    installed package (a shipped file's edit goes to ``out_dir``)."""
    setting = load_settings().plays_file
    plays_in = plays or (Path(setting) if setting and setting.lower() != "off" else SHIPPED_PLAYS)
    policy_in = policy or SHIPPED_POLICY
    return {
        "plays_in": plays_in,
        "plays_out": out_dir / "plays.yaml" if plays_in == SHIPPED_PLAYS else plays_in,
        "policy_in": policy_in,
        "policy_out": out_dir / "policy.yaml" if policy_in == SHIPPED_POLICY else policy_in,
    }


@plays_app.command("write")
def plays_write(
    instructions: Annotated[
        str | None,
        typer.Argument(help="What you want, in English (or --file).", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Read the instructions from this file.", show_default=False),
    ] = None,
    plays: Annotated[
        Path | None,
        typer.Option(
            "--plays",
            help="The plays file to change (default: TWOLOOP_PLAYS_FILE, else a copy of the "
            "shipped one in --out-dir).",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="The policy file to change (default: a copy of the shipped one in --out-dir).",
            show_default=False,
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", help="Where copies of shipped files are written.")
    ] = Path("."),
    days: Annotated[
        int, typer.Option("--days", min=1, max=365, help="Simulate this far back.")
    ] = 30,
    yes: Annotated[bool, typer.Option("--yes", help="Write the change without asking.")] = False,
    now: NowOption = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """Turn instructions into plays and policy rules (Claude), check them, show the YAML
    diff and a simulation on current data; nothing is written until you confirm.

    Without a Claude key it says so and shows what plays and rules can say, to write by
    hand (exit 2). Exit 1 when the proposal is refused (it conflicts with the do-not-send
    checks or does not check), 0 otherwise."""
    settings = load_settings()
    if file is not None:
        instructions = file.read_text()
    if not instructions or not instructions.strip():
        raise typer.BadParameter("give the instructions as an argument or with --file")
    if not settings.anthropic_api_key:
        _no_key(json_output)
        # Nothing was proposed: a script must not read this as done.
        raise typer.Exit(2)
    from routing.claude_workflows import propose_workflow

    where = _targets(plays, policy, out_dir)
    plays_text, policy_text = where["plays_in"].read_text(), where["policy_in"].read_text()
    proposal = propose_workflow(
        settings, instructions, plays_text=plays_text, policy_text=policy_text
    )
    checked = check_proposal(
        yaml.safe_load(plays_text),
        yaml.safe_load(policy_text),
        proposal,
        plays_path=str(where["plays_out"]),
        policy_path=str(where["policy_out"]),
    )
    model_refused = [r.model_dump() for r in proposal.refused]
    errors = checked.errors
    new_plays = edited_text(plays_text, checked.plays_data, proposal.plays, before_last=False)
    new_policy = edited_text(
        policy_text, checked.policy_data, proposal.policy_rules, before_last=True
    )
    diffs = {
        str(where["plays_out"]): unified_diff(plays_text, new_plays, where["plays_out"].name)
        if proposal.plays
        else "",
        str(where["policy_out"]): unified_diff(policy_text, new_policy, where["policy_out"].name)
        if proposal.policy_rules
        else "",
    }
    result: dict[str, Any] = {
        "summary": proposal.summary,
        "plays": checked.changed_plays,
        "policy_rules": checked.changed_rules,
        "refused": model_refused,
        "errors": errors,
        "diff": diffs,
        "simulation": None,
        "written": [],
    }
    if errors or checked.book is None or checked.policy is None:
        if json_output:
            _print_json(result)
        else:
            _show(result)
            console.print("nothing was written: the proposal does not pass the checks")
        raise typer.Exit(1)
    with _open(graph) as store:
        result["simulation"] = _simulation(store, checked, proposal, where, _now(now), days)
    if not json_output:
        _show(result)
    wanted = bool(proposal.plays or proposal.policy_rules)
    interactive = not json_output and sys.stdin.isatty()
    if wanted and (yes or (interactive and typer.confirm("Write these changes?", default=False))):
        for key, text, part in (
            ("plays_out", new_plays, proposal.plays),
            ("policy_out", new_policy, proposal.policy_rules),
        ):
            if part:
                where[key].parent.mkdir(parents=True, exist_ok=True)
                where[key].write_text(text)
                result["written"].append(str(where[key]))
    if json_output:
        _print_json(result)
        return
    if result["written"]:
        for path in result["written"]:
            console.print(f"[green]wrote[/] {path}", highlight=False)
        console.print(
            "use it: TWOLOOP_PLAYS_FILE=<plays file>, and --policy <policy file> on twoloop "
            "run and twoloop loop run"
        )
    elif wanted:
        console.print("nothing was written (pass --yes to write it)")
    else:
        console.print("nothing to change")


def _simulation(
    store: Any, checked: Any, proposal: Any, where: dict[str, Path], when: Any, days: int
) -> dict[str, Any]:
    """The changed plays simulated over the last ``days``; the policy's routes of the
    current matches before and after."""
    sim: dict[str, Any] = {}
    changed = [p for p in checked.book.plays if p.id in checked.changed_plays]
    if changed:
        book = dataclasses.replace(checked.book, plays=tuple(changed))
        sim["plays"] = simulate_plays(store, book, now=when, days=days)
    if proposal.policy_rules:
        before = simulate(store, load_policy(where["policy_in"]))
        after = simulate(store, checked.policy)
        sim["policy"] = {"before": before["actions"], "after": after["actions"]}
    return sim


def _show(result: dict[str, Any]) -> None:
    console.print(result["summary"], markup=False)
    for r in result["refused"]:
        console.print(
            f"[yellow]not done[/]: {r['instruction']}: {r['reason']}",
            highlight=False,
            soft_wrap=True,
        )
    for e in result["errors"]:
        console.print(
            f"[red]refused[/]: {e['instruction']}: {e['reason']}", highlight=False, soft_wrap=True
        )
    for name, diff in result["diff"].items():
        if diff:
            console.print(f"\n{name}:", markup=False)
            console.print(diff, markup=False, highlight=False, soft_wrap=True)
    sim = result.get("simulation") or {}
    if "plays" in sim:
        s = sim["plays"]
        console.print(f"would have fired in the last {s['days']} days:", highlight=False)
        for p in s["per_play"]:
            ex = p["examples"][0]["reason"] if p["examples"] else "-"
            console.print(f"  {p['play']}: {p['fired']} (e.g. {ex})", markup=False)
        for row in s["per_am"]:
            console.print(f"  {row['am']} ({row['am_id']}): {row['fired']}", markup=False)
    if "policy" in sim:
        before, after = sim["policy"]["before"], sim["policy"]["after"]
        console.print("routes of the current proposed matches (now -> proposed):")
        for action in sorted(set(before) | set(after)):
            console.print(
                f"  {action:<28} {before.get(action, 0):>6} -> {after.get(action, 0):>6}",
                markup=False,
            )


def _no_key(json_output: bool) -> None:
    why = (
        "Writing plays from English needs Claude, and no key is set "
        "(TWOLOOP_ANTHROPIC_API_KEY or ANTHROPIC_API_KEY): nothing was proposed."
    )
    if json_output:
        _print_json({"proposed": False, "reason": why, "schema": proposal_schema()})
        return
    console.print(why, markup=False)
    console.print(
        "Write them by hand in a plays file (routing/plays.yaml shows five) and check it with "
        "`twoloop plays check --plays FILE`; what plays and policy rules can say:\n",
        markup=False,
    )
    console.print(play_reference(), markup=False, soft_wrap=True)
    console.print("\n" + policy_reference(), markup=False, soft_wrap=True)
