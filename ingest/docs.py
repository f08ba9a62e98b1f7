"""Render the built-in readers' expected columns as Markdown for README.

``python -m ingest.docs`` prints the block that README holds between the
``<!-- readers:start -->`` and ``<!-- readers:end -->`` markers (a test keeps it current).
"""

from __future__ import annotations

from ingest.mapping import builtin_mapping, builtin_names


def readers_markdown() -> str:
    parts: list[str] = []
    for name in builtin_names():
        mapping = builtin_mapping(name)
        writes = sorted({n.label for n in mapping.nodes} | {e.type for e in mapping.edges})
        parts.append(
            f"**`{name}`** ({mapping.format or 'csv'}): {' '.join(mapping.description.split())}"
        )
        parts.append(
            f"Writes {', '.join(writes)}."
            + (f" Watermark column: `{mapping.watermark}`." if mapping.watermark else "")
        )
        parts.append("")
        parts.append("| column | required | meaning |")
        parts.append("| --- | --- | --- |")
        for column, doc in mapping.columns.items():
            parts.append(f"| `{column}` | {'yes' if doc.required else ''} | {doc.description} |")
        for join in mapping.joins:
            cols = ", ".join(f"`{c}`" for c in join.columns)
            keys = ", ".join(f"`{a}` = `{b}`" for a, b in join.keys.items())
            parts.append(f"| (`join_files.{join.file}`) | yes | {cols}, matched on {keys} |")
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(readers_markdown())
