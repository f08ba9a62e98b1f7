"""Extraction over a stored sample world, on both stores: edges, reruns, catalog changes,
and model extractors (paraphrase, Claude) that read each signal once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from graph_model.settings import Settings
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor
from ingest.sample import write_sample
from matching.claude_extractor import ClaudeExtractor
from matching.extract import RulesExtractor, needs_from_frame, signal_content
from matching.indicates import choose_extractors, run_extraction
from matching.paraphrase import ParaphraseExtractor
from tests.support.messages_api import Answer, messages_server


def _world(store: GraphStore, tmp_path: Path) -> None:
    write_sample(tmp_path / "world", accounts=40, seed=5, signals_per_account=8)
    report = Ingestor(store, load_config(tmp_path / "world" / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]


def test_rules_extraction_writes_evidence_edges_and_reruns_change_nothing(
    store: GraphStore, tmp_path: Path
) -> None:
    _world(store, tmp_path)
    (extractor,) = choose_extractors(
        store, Settings(anthropic_api_key=None, offline_extractor="rules")
    )
    assert isinstance(extractor, RulesExtractor)
    first = run_extraction(store, extractor)
    assert first.findings > 10 and first.written == first.findings and first.removed == 0
    edges = store.edges("INDICATES")
    assert edges.height == first.findings and set(edges["extractor"]) == {"rules"}
    signals = store.nodes("Signal")
    content = dict(signals.select("signal_id", signal_content(signals)).iter_rows())
    for row in edges.iter_rows(named=True):
        assert row["evidence"] in content[row["src"]]
    # Customers talk about what they bought: support tickets carry catalog phrases.
    kinds = signals.join(edges, left_on="signal_id", right_on="src")["kind"]
    assert "support_ticket" in kinds.to_list()

    again = run_extraction(store, extractor)
    assert (again.written, again.removed) == (0, 0)
    assert store.edges("INDICATES").equals(edges)

    # The catalog drops a phrase: the edges it supported go on the next run.
    needs = store.nodes("Need")
    target = edges["dst"].value_counts().sort("count", descending=True)["dst"][0]
    store.upsert_nodes(
        "Need",
        needs.with_columns(
            pl.when(pl.col("need_id") == target)
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.col("phrases"))
            .alias("phrases")
        ),
    )
    changed = run_extraction(store, RulesExtractor(needs_from_frame(store.nodes("Need"))))
    assert changed.removed == edges.filter(pl.col("dst") == target).height > 0
    assert target not in store.edges("INDICATES")["dst"].to_list()


def test_a_paid_extractor_reads_each_signal_once_beside_the_rules_edges(
    store: GraphStore, tmp_path: Path
) -> None:
    _world(store, tmp_path)
    rules = run_extraction(store, RulesExtractor(needs_from_frame(store.nodes("Need"))))

    def answer(request: dict[str, Any]) -> Answer:
        # A model that reads a pipeline need into every job post, quoting its opening.
        findings = []
        for block in request["messages"][0]["content"].split("<signal ")[1:]:
            head, _, body = block.partition(">\n")
            if 'kind="hiring"' in head:
                findings.append(
                    {
                        "signal_id": head.split('"')[1],
                        "need_id": "pipeline-reliability",
                        "confidence": 0.8,
                        "evidence": body[:24],
                    }
                )
        return {"findings": findings}

    settings = Settings(
        anthropic_api_key="k", anthropic_base_url="", claude_extract_model="m", claude_max_retries=0
    )
    with messages_server(answer) as server:
        settings = settings.model_copy(update={"anthropic_base_url": server.url})
        claude = ClaudeExtractor(needs_from_frame(store.nodes("Need")), settings)
        first = run_extraction(store, claude)
        second = run_extraction(store, claude)
    signals = store.nodes("Signal")
    assert first.signals_read == signals.height
    assert first.findings > 0 and first.requests == len(server.requests) > 1
    assert second.signals_read == 0 and second.requests == 0
    assert signals["read_by"].list.contains("claude:m").all()
    edges = store.edges("INDICATES")
    assert edges.filter(pl.col("extractor") == "rules").height == rules.findings
    assert edges.filter(pl.col("extractor") == "claude:m").height == first.findings
    # Re-ingesting the same signals keeps what the paid extractor has read.
    report = Ingestor(store, load_config(tmp_path / "world" / "ingest.yaml")).run()
    assert report.ok
    assert store.nodes("Signal")["read_by"].list.contains("claude:m").all()


def test_without_a_key_the_paraphrase_extractor_runs_beside_the_rules_and_reads_once(
    store: GraphStore, tmp_path: Path
) -> None:
    _world(store, tmp_path)
    rules, paraphrase = choose_extractors(store, Settings(anthropic_api_key=None))
    assert isinstance(rules, RulesExtractor) and isinstance(paraphrase, ParaphraseExtractor)
    by_rules = run_extraction(store, rules)
    first = run_extraction(store, paraphrase)
    signals = store.nodes("Signal")
    assert first.signals_read == signals.height and first.findings > 0
    assert first.written == first.findings
    assert signals["read_by"].list.contains("paraphrase").all()
    edges = store.edges("INDICATES")
    assert edges.filter(pl.col("extractor") == "rules").height == by_rules.findings
    found = edges.filter(pl.col("extractor") == "paraphrase")
    assert found.height == first.findings
    content = dict(signals.select("signal_id", signal_content(signals)).iter_rows())
    for row in found.iter_rows(named=True):
        assert row["evidence"] in content[row["src"]]
        assert 0.0 <= row["confidence"] <= 1.0

    again = run_extraction(store, paraphrase)
    assert (again.signals_read, again.written, again.removed) == (0, 0, 0)
    assert store.edges("INDICATES").equals(edges)
