"""``twoloop policy``: check a routing policy file, simulate it on current matches."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from app.cli.common import GraphOption, JsonOption, PolicyOption, _open, _print_json, app, console
from routing.policy import DEFAULT_FILE as DEFAULT_POLICY
from routing.policy import ROUTING_FIELDS, load_policy
from routing.simulate import simulate

policy_app = typer.Typer(help="The routing policy: check a file, simulate it on current matches.")
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    policy: PolicyOption = DEFAULT_POLICY,
    fields: Annotated[
        bool, typer.Option("--fields", help="Also list the fields a rule can use.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Check a policy: unknown fields, wrong values, unreachable rules, a missing default."""
    checked = load_policy(policy)
    rules = [
        {"rule": r.id, "action": r.action, "kind": r.kind, "when": [_cond(c) for c in r.conditions]}
        for r in checked.rules
    ]
    known = {
        name: {"type": f.kind, "description": f.description, "choices": list(f.choices)}
        for name, f in ROUTING_FIELDS.items()
    }
    if json_output:
        _print_json(
            {
                "policy": checked.path,
                "ok": True,
                "rules": rules,
                **({"fields": known} if fields else {}),
            }
        )
        return
    console.print(f"[green]ok[/] {checked.path}: {len(rules)} rules, ends with a default")
    for r in rules:
        action = f"{r['action']}:{r['kind']}" if r["kind"] else r["action"]
        when = " and ".join(r["when"]) or "(always)"
        console.print(f"  {r['rule']:<20} {action:<26} {when}", markup=False, soft_wrap=True)
    if fields:
        console.print("fields:")
        for name, f in known.items():
            choices = f" ({', '.join(f['choices'])})" if f["choices"] else ""
            console.print(f"  {name:<16} {f['type']:<6} {f['description']}{choices}", markup=False)


def _cond(c: Any) -> str:
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    value = "[" + ", ".join(map(text, c.value)) + "]" if c.op == "in" else text(c.value)
    return f"{c.field} {c.op} {value}"


@policy_app.command("simulate")
def policy_simulate(
    policy: PolicyOption = DEFAULT_POLICY,
    am: Annotated[
        str | None, typer.Option("--am", help="Only this AM's matches.", show_default=False)
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
) -> None:
    """How many current (proposed) matches each action and rule would get; sends nothing."""
    checked = load_policy(policy)
    with _open(graph) as store:
        result = simulate(store, checked, am=am)
    if json_output:
        _print_json(result)
        return
    who = f" of {am}" if am else ""
    console.print(f"{result['matches']} proposed matches{who} under {result['policy']}")
    for action, n in result["actions"].items():
        console.print(f"  {action:<28} {n:>7}")
    table = Table(title="rules, in order")
    for column in ("rule", "action", "matches", "example"):
        table.add_column(column, justify="right" if column == "matches" else "left")
    for r in result["rules"]:
        ex = r["example"]
        table.add_row(
            r["rule"],
            f"{r['action']}:{r['kind']}" if r["kind"] else r["action"],
            str(r["matches"]),
            f"{ex['account_id']} / {ex['capability_id']}: {ex['reason']}" if ex else "-",
        )
    console.print(table)
