"""The paraphrase extractor: needs stated in other words, offline, with a small local model.

Each signal's text is split into sentences. A sentence that denies or closes a
need (``sentence_denies``: "we don't need...", "...is solved") or that is a
vendor offering a solution (``speaks_as_seller``) is skipped; so is one too
short to state a need (fewer than ``MIN_WORDS`` words: "Acme runs Snowflake.").
The rest are embedded with all-MiniLM-L6-v2 (int8 ONNX, ``matching.encoder``),
identical sentences once, and compared with per-need prototypes built from the
catalog's Need nodes (the name, each phrase and the description), so it works
for any catalog. A need's similarity to a sentence is its nearest prototype's
cosine. The best need is found when that similarity clears the need's threshold
and beats the runner-up by ``MARGIN``. A need with a description is matched
from ``THRESHOLD``; one known only by its name and short phrases is a thin
target whose similarities say less, so it needs ``THRESHOLD_NAME_ONLY``.

Each finding is one ``INDICATES`` edge like the other extractors' (extractor
``paraphrase``), with the verbatim sentence as evidence and a confidence that
rises with the similarity (see ``confidence_of``). Matching reasons over these
typed edges; the embedding never leaves this module.

``THRESHOLD`` and ``MARGIN`` were chosen on the tuning half of the hand-written
set in ``tests/data/paraphrases.yaml`` (``bench/paraphrase_quality.py``);
bench/RESULTS.md gives the figures on both halves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from matching.encoder import OnnxMiniLM
from matching.extract import (
    EVIDENCE_MAX,
    INDICATES_SCHEMA,
    ExtractionStats,
    NeedTerms,
    empty_findings,
    sentence_denies,
    signal_content,
    speaks_as_seller,
)

THRESHOLD = 0.45
THRESHOLD_NAME_ONLY = 0.62
MARGIN = 0.0
MIN_WORDS = 4
# Confidence at the threshold and at a similarity of 1 (linear between): the
# paraphrase extractor's findings sit below the rules extractor's word-for-word 0.9.
CONFIDENCE_AT_THRESHOLD = 0.5
CONFIDENCE_MAX = 0.85

_SENTENCE = re.compile(r"[^.!?;\n]+")
_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class Sentence:
    signal_id: str
    text: str  # verbatim, stripped


def sentences_of(signal_id: str, content: str) -> list[Sentence]:
    """The signal's sentences (and lines), verbatim, in order."""
    found = []
    for m in _SENTENCE.finditer(content):
        text = m.group(0).strip()
        if text:
            found.append(Sentence(signal_id, text))
    return found


def could_state_a_need(sentence: str) -> bool:
    """The cheap prefilter: enough words to state a problem."""
    return len(_WORD.findall(sentence)) >= MIN_WORDS


def prototypes(need: NeedTerms) -> list[str]:
    """What a need is compared with: its name, phrases and description."""
    texts = [need.name, *need.phrases, " ".join(need.description.split())]
    return [t for t in dict.fromkeys(t.strip() for t in texts) if t]


def confidence_of(similarity: float, threshold: float) -> float:
    """0.5 at the threshold, rising linearly to 0.85 at a similarity of 1."""
    share = (similarity - threshold) / max(1e-9, 1.0 - threshold)
    value = CONFIDENCE_AT_THRESHOLD + share * (CONFIDENCE_MAX - CONFIDENCE_AT_THRESHOLD)
    return round(float(min(CONFIDENCE_MAX, max(0.0, value))), 3)


class ParaphraseExtractor:
    """Finds needs stated in other words with a local sentence model (no key, no network)."""

    name = "paraphrase"

    def __init__(
        self,
        needs: Sequence[NeedTerms],
        *,
        encoder: OnnxMiniLM | None = None,
        threshold: float = THRESHOLD,
        threshold_name_only: float = THRESHOLD_NAME_ONLY,
        margin: float = MARGIN,
    ) -> None:
        self.needs = [n for n in needs if prototypes(n)]
        self.encoder = encoder or OnnxMiniLM()
        self.margin = margin
        self.thresholds = np.array(
            [threshold if n.description.strip() else threshold_name_only for n in self.needs],
            dtype=np.float32,
        )
        texts = [prototypes(n) for n in self.needs]
        flat = [t for group in texts for t in group]
        self._vectors = self.encoder.encode(flat) if flat else np.zeros((0, self.encoder.hidden))
        self._owner = np.repeat(np.arange(len(texts)), [len(g) for g in texts])

    def similarities(self, sentences: Sequence[str]) -> np.ndarray:
        """Each sentence's similarity to each need (sentences x needs): the nearest
        prototype's cosine."""
        out = np.full((len(sentences), len(self.needs)), -1.0, dtype=np.float32)
        if not sentences or not self.needs:
            return out
        cosines = self.encoder.encode(sentences) @ self._vectors.T
        np.maximum.at(out.T, self._owner, cosines.T)
        return out

    def found(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each sentence: whether a need is found, which, and its similarity."""
        which = scores.argmax(axis=1)
        best = scores[np.arange(len(scores)), which]
        if len(self.needs) > 1:
            runner_up = np.partition(scores, -2, axis=1)[:, -2]
        else:
            runner_up = np.full(len(scores), -1.0, dtype=np.float32)
        hit = (best >= self.thresholds[which]) & (best - runner_up >= self.margin)
        return hit, which, best

    def candidates(
        self, signals: pl.DataFrame, stats: ExtractionStats, *, keep_denied: bool = False
    ) -> list[Sentence]:
        """The signals' sentences that could state a need and deny none (others counted)."""
        content = signals.select(pl.col("signal_id"), signal_content(signals))
        kept: list[Sentence] = []
        for signal_id, text in content.iter_rows():
            for sentence in sentences_of(signal_id, text or ""):
                if not could_state_a_need(sentence.text):
                    continue
                if not keep_denied and (
                    sentence_denies(sentence.text) or speaks_as_seller(sentence.text)
                ):
                    stats.negated += 1
                    continue
                kept.append(sentence)
        return kept

    def extract(
        self, signals: pl.DataFrame, *, keep_denied: bool = False
    ) -> tuple[pl.DataFrame, ExtractionStats]:
        """Findings per (signal, need); ``keep_denied`` keeps sentences that deny a need
        or speak as a seller (an account's description of itself)."""
        stats = ExtractionStats(signals=signals.height)
        if not signals.height or not self.needs:
            return empty_findings(), stats
        candidates = self.candidates(signals, stats, keep_denied=keep_denied)
        unique = list(dict.fromkeys(s.text for s in candidates))
        hit, which, best = self.found(self.similarities(unique))
        by_text = {t: i for i, t in enumerate(unique)}
        findings: dict[tuple[str, str], tuple[float, float, str]] = {}
        for sentence in candidates:
            i = by_text[sentence.text]
            if not hit[i]:
                continue
            need = int(which[i])
            key = (sentence.signal_id, self.needs[need].need_id)
            similarity = float(best[i])
            if key not in findings or similarity > findings[key][0]:
                threshold = float(self.thresholds[need])
                findings[key] = (similarity, threshold, sentence.text[:EVIDENCE_MAX])
        stats.notes.append(
            f"{len(candidates):,} sentences compared ({len(unique):,} distinct), "
            f"{stats.negated:,} denied, solved or sellers' skipped"
        )
        rows = [
            (src, dst, self.name, confidence_of(sim, threshold), evidence)
            for (src, dst), (sim, threshold, evidence) in findings.items()
        ]
        stats.findings = len(rows)
        if not rows:
            return empty_findings(), stats
        return pl.DataFrame(rows, schema=INDICATES_SCHEMA, orient="row"), stats
