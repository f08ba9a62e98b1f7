"""Render the schema registry as Markdown: ``python -m graph_model.docs > docs/graph-model.md``."""

from __future__ import annotations

from graph_model.schema import REGISTRY, FieldSpec, SchemaRegistry


def _props(fields: dict[str, FieldSpec], skip: str | None = None) -> str:
    parts = [
        f"`{name}`{'' if f.required else '?'}: {f.type_text()}"
        for name, f in fields.items()
        if name != skip
    ]
    # A literal | would end the Markdown table cell.
    return "<br>".join(parts).replace("|", "\\|") or "-"


def schema_markdown(registry: SchemaRegistry = REGISTRY) -> str:
    lines = [
        "# The graph model",
        "",
        "Generated from the schema registry by `python -m graph_model.docs`; do not edit by hand.",
        "`?` marks an optional property. Datetimes carry a time zone and are stored in UTC.",
        "",
        "## Node labels",
        "",
        "| label | key | what it is | properties |",
        "| --- | --- | --- | --- |",
    ]
    for spec in registry.nodes.values():
        key = f"`{spec.key}`" + (" (lower-cased)" if spec.fields[spec.key].lower_case else "")
        lines.append(
            f"| `{spec.label}` | {key} | {spec.description} | "
            f"{_props(spec.fields, skip=spec.key)} |"
        )
    lines += [
        "",
        "## Edge types",
        "",
        "| type | from -> to | what it is | properties |",
        "| --- | --- | --- | --- |",
    ]
    for spec in registry.edges.values():
        pairs = "<br>".join(f"{s} -> {d}" for s, d in spec.endpoints)
        merge = f" (one per `{'`, `'.join(spec.merge_on)}`)" if spec.merge_on else ""
        lines.append(
            f"| `{spec.type}` | {pairs} | {spec.description}{merge} | {_props(spec.fields)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(schema_markdown(), end="")
