"""Signal -> Need extraction: which problems a signal's text reveals.

Every extractor answers in the same shape, one row per (signal, need) it
found, ready to become an ``INDICATES`` edge:

    src (signal_id), dst (need_id), extractor, confidence, evidence

``evidence`` is always a span quoted verbatim from the signal's own text, so
an AM can check it and so untrusted text can never add anything that is not
already in it. ``RulesExtractor`` is driven by the catalog's phrases;
``matching.paraphrase.ParaphraseExtractor`` (offline, a small local sentence
model) and ``matching.claude_extractor.ClaudeExtractor`` read paraphrases too.
All sit behind the ``Extractor`` protocol.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

INDICATES_COLUMNS = ["src", "dst", "extractor", "confidence", "evidence"]
INDICATES_SCHEMA = {
    "src": pl.String,
    "dst": pl.String,
    "extractor": pl.String,
    "confidence": pl.Float64,
    "evidence": pl.String,
}


@dataclass(frozen=True)
class NeedTerms:
    """A need as extractors see it: id, name, description and revealing phrases."""

    need_id: str
    name: str
    description: str = ""
    phrases: tuple[str, ...] = ()


def needs_from_frame(frame: pl.DataFrame) -> list[NeedTerms]:
    """``NeedTerms`` from the store's Need nodes."""
    return [
        NeedTerms(
            need_id=row["need_id"],
            name=row["name"],
            description=row.get("description") or "",
            phrases=tuple(row.get("phrases") or ()),
        )
        for row in frame.iter_rows(named=True)
    ]


def signal_content(signals: pl.DataFrame) -> pl.Expr:
    """What an extractor reads of a signal: its title and text, one per line."""
    title = pl.col("title").fill_null("") if "title" in signals.columns else pl.lit("")
    text = pl.col("text").fill_null("") if "text" in signals.columns else pl.lit("")
    return (
        pl.when((title != "") & (text != ""))
        .then(pl.concat_str([title, pl.lit("\n"), text]))
        .otherwise(pl.concat_str([title, text]))
        .alias("content")
    )


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=INDICATES_SCHEMA)


@dataclass
class ExtractionStats:
    signals: int = 0
    findings: int = 0
    negated: int = 0  # phrase found but the sentence denies it
    rejected: int = 0  # answers dropped by validation (Claude: unknown need, unquoted evidence)
    requests: int = 0
    notes: list[str] = field(default_factory=list)


class Extractor(Protocol):
    """Reads signals and says which needs they reveal."""

    name: str

    def extract(self, signals: pl.DataFrame) -> tuple[pl.DataFrame, ExtractionStats]:
        """Findings for ``signals`` (columns signal_id, kind, title, text at least)."""
        ...


# ------------------------------------------------------------------ rules

# Cues that deny what follows them in the same sentence (within a few words) ...
_PRE_NEGATIONS = frozenset(
    {"not", "no", "never", "without", "nor", "neither", "none", "nothing", "zero"}
)
_PRE_WINDOW = 6
# ... and phrases that, after the match in the same sentence, say it is over.
_POST_NEGATIONS = (
    "thing of the past",
    "behind us",
    "no longer",
    "not an issue",
    "not a problem",
    "under control",
    "solved",
    "resolved",
    "went away",
    "are gone",
    "is gone",
    "fixed",
)
_SENTENCE_END = re.compile(r"[.!?;\n]")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

EXACT_CONFIDENCE = 0.9
VARIANT_CONFIDENCE = 0.75


def phrase_pattern(phrase: str) -> str:
    """A phrase as a regex that allows plurals and hyphens or spaces between words."""
    tokens = re.findall(r"[a-z0-9]+", phrase.lower())
    if not tokens:
        raise ValueError(f"phrase {phrase!r} has no words")
    parts = [_word_pattern(t) for t in tokens]
    return r"\b" + r"[\s\-]*".join(parts) + r"\b"


def _word_pattern(token: str) -> str:
    if not token.isalpha() or len(token) <= 2:
        return re.escape(token)
    if token.endswith("s") and not token.endswith("ss") and len(token) > 3:
        token = token[:-1]  # "failures" also finds "failure"
    return re.escape(token) + "(?:e?s)?"


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Start and end of the sentence (or line) holding ``text[start:end]``."""
    sentence_start = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        sentence_start = m.end()
    m_end = _SENTENCE_END.search(text, end)
    return sentence_start, (m_end.start() if m_end else len(text))


def is_negated(text: str, start: int, end: int) -> bool:
    """Whether the sentence around ``text[start:end]`` denies it (NegEx-style cues)."""
    lower = text.lower()
    sentence_start, sentence_end = sentence_bounds(lower, start, end)
    before = _TOKEN.findall(lower[sentence_start:start])[-_PRE_WINDOW:]
    if any(t in _PRE_NEGATIONS or t.endswith("n't") for t in before):
        return True
    after = lower[end:sentence_end]
    return any(cue in after for cue in _POST_NEGATIONS)


# A sentence read as a whole (the paraphrase extractor has no phrase to anchor on):
# it denies a need when a negation cue comes shortly before a word that states one
# ("we don't need", "no plans to", "have not failed", "none of our loads crashed") ...
_DENIAL_CUES = _PRE_NEGATIONS | {"nobody", "cannot"}
_DENIED_WORDS = re.compile(
    r"^(?:need|needs|needed|plan|plans|problem|problems|issue|issues|trouble|concern|"
    r"worried|worry|looking|intend|interested|fail|failed|failing|crash|crashed|miss|"
    r"missed|struggle|struggling|wait|waiting|complaint|complaints)$"
)
_DENIAL_WINDOW = 5
# ... or says it is over ("no longer" alone is not enough: "no longer fits" is a need).
_SOLVED = (*(c for c in _POST_NEGATIONS if c != "no longer"), "no longer a", "completed")
# A vendor speaking about what it sells states no need of its own.
_SELLER = re.compile(
    r"\b(?:we (?:help|offer|sell|provide)|(?:our|the|a) (?:new )?(?:platform|product|tool|"
    r"service|solution|consultancy|startup|vendor) (?:helps|sells|offers|lets|migrates|is now)|"
    r"launch(?:es|ed)|announc(?:es|ed)|generally available|book a demo|webinar)\b",
    re.IGNORECASE,
)


def sentence_denies(sentence: str) -> bool:
    """Whether a sentence, read as a whole, denies or closes the need it talks about."""
    lower = sentence.lower()
    if any(cue in lower for cue in _SOLVED):
        return True
    tokens = _TOKEN.findall(lower)
    return any(
        (token in _DENIAL_CUES or token.endswith("n't"))
        and any(_DENIED_WORDS.match(t) for t in tokens[i + 1 : i + 1 + _DENIAL_WINDOW])
        for i, token in enumerate(tokens)
    )


def speaks_as_seller(sentence: str) -> bool:
    """Whether a sentence is a vendor offering a solution rather than a buyer's need."""
    return _SELLER.search(sentence) is not None


EVIDENCE_MAX = 200


def quote_around(text: str, start: int, end: int) -> str:
    """The sentence holding the match, verbatim, clipped to ~200 characters around it."""
    s, e = sentence_bounds(text, start, end)
    if e - s > EVIDENCE_MAX:
        room = max(0, (EVIDENCE_MAX - (end - start)) // 2)
        s, e = max(s, start - room), min(e, end + room)
    return text[s:e].strip()


class RulesExtractor:
    """Finds the catalog's phrases (plurals and hyphenation allowed), skips denied ones.

    Confidence: 0.9 when a phrase appears word for word, 0.75 for a variant.
    Paraphrases are not found: that is what the paraphrase and Claude extractors are for.
    """

    name = "rules"

    def __init__(self, needs: Sequence[NeedTerms]) -> None:
        self.needs = list(needs)
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._polars_patterns: dict[str, str] = {}
        self._exact: dict[str, list[str]] = {}
        for need in self.needs:
            phrases = [p for p in need.phrases if re.search(r"[A-Za-z0-9]", p)]
            if not phrases:
                continue
            alternation = "|".join(phrase_pattern(p) for p in phrases)
            self._patterns[need.need_id] = re.compile(alternation, re.IGNORECASE)
            self._polars_patterns[need.need_id] = "(?i)" + alternation
            self._exact[need.need_id] = [" ".join(p.lower().split()) for p in phrases]

    def extract(
        self, signals: pl.DataFrame, *, keep_denied: bool = False
    ) -> tuple[pl.DataFrame, ExtractionStats]:
        """Findings per (signal, need); ``keep_denied`` keeps phrases a sentence denies
        (an account's description, where a denial is a vendor's promise)."""
        stats = ExtractionStats(signals=signals.height)
        if not signals.height or not self._patterns:
            return empty_findings(), stats
        content = signals.select(pl.col("signal_id"), signal_content(signals))
        # polars' regex engine screens every signal; Python only looks at the hits.
        hits = content.select(
            "signal_id",
            "content",
            *[
                pl.col("content").str.contains(pattern).alias(need_id)
                for need_id, pattern in self._polars_patterns.items()
            ],
        ).filter(pl.any_horizontal(list(self._polars_patterns)))
        rows: list[tuple[str, str, str, float, str]] = []
        for record in hits.iter_rows(named=True):
            text: str = record["content"]
            for need_id, pattern in self._patterns.items():
                if not record[need_id]:
                    continue
                best: tuple[float, str] | None = None
                for m in pattern.finditer(text):
                    if not keep_denied and is_negated(text, m.start(), m.end()):
                        stats.negated += 1
                        continue
                    exact = " ".join(m.group(0).lower().split()) in self._exact[need_id]
                    confidence = EXACT_CONFIDENCE if exact else VARIANT_CONFIDENCE
                    if best is None or confidence > best[0]:
                        best = (confidence, quote_around(text, m.start(), m.end()))
                if best is not None:
                    rows.append((record["signal_id"], need_id, self.name, best[0], best[1]))
        stats.findings = len(rows)
        if not rows:
            return empty_findings(), stats
        return pl.DataFrame(rows, schema=INDICATES_SCHEMA, orient="row"), stats
