"""Precision and recall of the offline extractors on hand-written need statements.

The set (``tests/data/paraphrases.yaml``) was written by hand for issue 17 point 6,
apart from the sample generator's templates and the catalog's phrases: positives
that state one of the sample catalog's needs in other words, and hard negatives
(denied, solved, a vendor selling the solution, unrelated chatter, near misses).
Each item is read as one signal. A finding of the expected need is a true
positive; any other finding is a false positive. The catalog is the sample
world's as ``twoloop sample`` writes it (each need's name and phrases, no
description), and the same catalog with a description per need (the set's
``descriptions``: written by the same hand, after the items, so not blind to them).

The items are split in two by a fixed hash of their text: the paraphrase
extractor's threshold and margin are chosen on the tuning half (``--tune``
sweeps them there); figures are reported on both halves.

    .venv/bin/python bench/paraphrase_quality.py [--tune] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import yaml  # noqa: E402

from ingest.sample import NEEDS  # noqa: E402
from matching.encoder import OnnxMiniLM  # noqa: E402
from matching.extract import (  # noqa: E402
    ExtractionStats,
    Extractor,
    NeedTerms,
    RulesExtractor,
)
from matching.paraphrase import ParaphraseExtractor  # noqa: E402

LABELLED = REPO / "tests" / "data" / "paraphrases.yaml"
HALVES = ("tuning", "held-out")


@dataclass(frozen=True)
class Item:
    text: str
    need: str | None
    kind: str

    @property
    def half(self) -> str:
        return HALVES[int(hashlib.sha1(self.text.encode()).hexdigest(), 16) % 2]


@dataclass
class Figures:
    items: int
    positives: int
    true_positives: int
    false_positives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.positives if self.positives else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
        }


def labelled_items(half: str | None = None) -> list[Item]:
    items = [Item(**row) for row in yaml.safe_load(LABELLED.read_text())["items"]]
    return [i for i in items if half is None or i.half == half]


def sample_catalog_needs(*, described: bool = False) -> list[NeedTerms]:
    """The sample world's Need nodes: name and phrases (its paraphrases stay out);
    ``described`` adds the descriptions a catalog author would write (the set's
    ``descriptions``), which the sample catalog does not have."""
    descriptions = yaml.safe_load(LABELLED.read_text())["descriptions"] if described else {}
    return [
        NeedTerms(need_id, name, descriptions.get(need_id, ""), tuple(phrases))
        for need_id, (name, phrases, _paraphrases) in NEEDS.items()
    ]


def as_signals(texts: Sequence[str]) -> pl.DataFrame:
    """One news signal per text, ids ``item-0``, ``item-1``..."""
    return pl.DataFrame(
        {
            "signal_id": [f"item-{i}" for i in range(len(texts))],
            "kind": ["news"] * len(texts),
            "title": [None] * len(texts),
            "text": list(texts),
        },
        schema={"signal_id": pl.String, "kind": pl.String, "title": pl.String, "text": pl.String},
    )


def measure(extractor: Extractor, items: Sequence[Item]) -> Figures:
    findings, _ = extractor.extract(as_signals([i.text for i in items]))
    expected = {f"item-{i}": item.need for i, item in enumerate(items)}
    tp = sum(1 for src, dst in findings.select("src", "dst").iter_rows() if expected[src] == dst)
    return Figures(
        items=len(items),
        positives=sum(1 for i in items if i.need),
        true_positives=tp,
        false_positives=findings.height - tp,
    )


def sweep(
    extractor: ParaphraseExtractor, items: Sequence[Item], *, min_precision: float = 0.9
) -> list[dict[str, Any]]:
    """Every (threshold, margin) on a grid with its figures on ``items``, the best
    recall at the precision floor first. One threshold for every need (the
    catalog given either has descriptions or has none)."""
    sentences = extractor.candidates(as_signals([i.text for i in items]), ExtractionStats())
    scores = extractor.similarities([s.text for s in sentences])
    ids = [n.need_id for n in extractor.needs]
    expected = {f"item-{i}": item.need for i, item in enumerate(items)}
    positives = sum(1 for i in items if i.need)
    rows = []
    for threshold in np.arange(0.25, 0.701, 0.01):
        for margin in (0.0, 0.02, 0.04, 0.06, 0.08, 0.10):
            extractor.thresholds[:] = threshold
            extractor.margin = margin
            hit, which, _best = extractor.found(scores)
            found = {(s.signal_id, ids[which[j]]) for j, s in enumerate(sentences) if hit[j]}
            tp = sum(1 for src, dst in found if expected[src] == dst)
            figures = Figures(len(items), positives, tp, len(found) - tp)
            rows.append(
                {"threshold": round(float(threshold), 2), "margin": margin, **figures.as_dict()}
            )
    rows.sort(key=lambda r: (r["precision"] < min_precision, -r["recall"], -r["threshold"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline extractors on hand-written needs.")
    parser.add_argument("--tune", action="store_true", help="sweep threshold and margin")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from bench._shared import meta

    encoder = OnnxMiniLM()
    results: dict[str, Any] = {"meta": meta("bench/paraphrase_quality.py")}
    for catalog in ("sample catalog", "described catalog"):
        needs = sample_catalog_needs(described=catalog == "described catalog")
        rules = RulesExtractor(needs)
        if args.tune:
            tuning = sweep(ParaphraseExtractor(needs, encoder=encoder), labelled_items("tuning"))
            results[f"{catalog}: tuning sweep, best 3"] = tuning[:3]
        paraphrase = ParaphraseExtractor(needs, encoder=encoder)
        for half in (*HALVES, None):
            items = labelled_items(half)
            results[f"{catalog}: {half or 'all'}"] = {
                "paraphrase": measure(paraphrase, items).as_dict(),
                "rules": measure(rules, items).as_dict(),
                "rules+paraphrase": measure(_Both(rules, paraphrase), items).as_dict(),
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(key, json.dumps(value))


class _Both:
    """Both offline extractors' findings, as matching sees them (one need once)."""

    name = "rules+paraphrase"

    def __init__(self, *extractors: Extractor) -> None:
        self.extractors = extractors

    def extract(self, signals: pl.DataFrame) -> tuple[pl.DataFrame, Any]:
        frames = [e.extract(signals)[0] for e in self.extractors]
        return pl.concat(frames).unique(["src", "dst"]), None


if __name__ == "__main__":
    main()
