"""Sentences of path instances: a metapath's ``sentence`` template filled from the
instance's node and edge fields, for every instance at once (one polars expression),
so a run renders only the instances it stores."""

from __future__ import annotations

import polars as pl

from matching.metapaths import PLACEHOLDER, Metapath

EVIDENCE_CHARS = 160


def placeholders(mp: Metapath) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for m in PLACEHOLDER.finditer(mp.sentence):
        found.setdefault(m["alias"], set()).add(m["field"])
    return found


def render_expr(template: str, schema: pl.Schema) -> pl.Expr:
    """The sentence of every path instance, as one polars expression: ``{alias.field}``
    placeholders filled from the frame's ``alias.field`` columns (dates as ISO dates,
    text on one line and cut at 160 characters, a kind's underscores as spaces, a
    missing value as ``?``)."""
    text = " ".join(template.split())
    parts: list[pl.Expr] = []
    at = 0
    for m in PLACEHOLDER.finditer(text):
        if m.start() > at:
            parts.append(pl.lit(text[at : m.start()]))
        parts.append(_value_expr(f"{m['alias']}.{m['field']}", m["field"], schema))
        at = m.end()
    if at < len(text):
        parts.append(pl.lit(text[at:]))
    return pl.concat_str(parts) if parts else pl.lit("")


def _value_expr(column: str, field_name: str, schema: pl.Schema) -> pl.Expr:
    dtype = schema.get(column)
    if dtype is None:
        return pl.lit("?")
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        value = col.dt.date().dt.to_string("%Y-%m-%d")
    elif dtype == pl.Date:
        value = col.dt.to_string("%Y-%m-%d")
    elif dtype == pl.String:
        value = col.str.replace_all(r"\s+", " ").str.strip_chars(" ")
        if field_name == "kind":
            value = value.str.replace_all("_", " ", literal=True)
        value = (
            pl.when(value.str.len_chars() > EVIDENCE_CHARS)
            .then(
                pl.concat_str(
                    value.str.slice(0, EVIDENCE_CHARS - 1).str.strip_chars_end(" "),
                    pl.lit("…"),
                )
            )
            .otherwise(value)
        )
    elif dtype == pl.Boolean:
        value = pl.when(col).then(pl.lit("True")).otherwise(pl.lit("False"))
    elif dtype.is_float():
        value = col.map_elements(lambda v: f"{v:g}", return_dtype=pl.String)
    else:
        value = col.cast(pl.String)
    return value.fill_null("?")
