"""AM style memory: what an AM changes in drafts becomes short notes for later ones.

``style_rules`` compares a draft with the AM's edit (offline, by rules): a new
greeting or sign-off (the contact's and AM's names made into placeholders), a
much shorter or longer text, dropped exclamation marks, sentences the AM always
cuts. Notes are StyleNote nodes per AM; a note seen again gains support.
``compact_notes`` keeps them short: one note per single-valued rule (the latest
greeting, sign-off, length), and at most ``MAX_NOTES`` in all, best supported
first. Drafters get the notes with every request; the offline drafter applies
greeting, sign-off and length notes itself, Claude reads them all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from graph_model.settings import Settings
from graph_model.store import GraphStore, WriteBatch

if TYPE_CHECKING:
    from drafting.claude import ClaudeStyleNotes

MAX_NOTES = 6
SINGLE = ("greeting", "sign_off", "length")
GREETING = "Opens with: "
SIGN_OFF = "Signs off with: "
LENGTH = "Keeps emails under {n} words"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _words(text: str) -> int:
    return len(text.split())


def _placeholders(line: str, first_name: str | None, am_first: str | None) -> str:
    if first_name:
        line = re.sub(rf"\b{re.escape(first_name)}\b", "{first_name}", line)
    if am_first:
        line = re.sub(rf"\b{re.escape(am_first)}\b", "{am_first_name}", line)
    return line


def style_rules(
    original: str, edited: str, *, first_name: str | None = None, am_first: str | None = None
) -> list[tuple[str, str]]:
    """(rule, note) pairs an edit shows."""
    notes: list[tuple[str, str]] = []
    before, after = _lines(original), _lines(edited)
    if not after:
        return notes
    if before and after[0] != before[0] and len(after[0]) <= 60:
        notes.append(("greeting", GREETING + _placeholders(after[0], first_name, am_first)))
    if before and after[-1] != before[-1] and len(after[-1]) <= 60:
        notes.append(("sign_off", SIGN_OFF + _placeholders(after[-1], first_name, am_first)))
    n_before, n_after = _words(original), _words(edited)
    if n_before and n_after <= 0.8 * n_before:
        notes.append(("length", LENGTH.format(n=max(20, round(n_after, -1) or 20))))
    if "!" in original and "!" not in edited:
        notes.append(("no_exclamations", "Uses no exclamation marks"))
    kept = {" ".join(s.split()).lower() for s in _SENTENCE.split(edited)}
    for sentence in _SENTENCE.split(original):
        flat = " ".join(sentence.split())
        if 15 <= len(flat) <= 90 and flat.lower() not in kept and "\n" not in sentence.strip():
            if any(flat.lower() in line.lower() for line in after):
                continue
            notes.append(("avoids", f'Cuts sentences like: "{flat}"'))
    return notes


def note_id(am_id: str, rule: str, text: str) -> str:
    key = rule if rule in SINGLE else f"{rule}\x1f{text}"
    return "sn-" + hashlib.sha1(f"{am_id}\x1f{key}".encode()).hexdigest()[:20]


def record_style(
    write: WriteBatch,
    store: GraphStore,
    am_id: str,
    notes: Sequence[tuple[str, str]],
    *,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """Add the notes to ``write`` (support + 1 for ones already known), compacted."""
    current = {r["note_id"]: r for r in store.nodes("StyleNote", {"am_id": am_id}).to_dicts()}
    for rule, text in notes:
        nid = note_id(am_id, rule, text)
        old = current.get(nid)
        same = old is not None and old["text"] == text
        current[nid] = {
            "note_id": nid,
            "am_id": am_id,
            "rule": rule,
            "text": text,
            "support": (old["support"] + 1) if same and old else 1,
            "updated_at": now,
        }
    kept, dropped = compact_notes(list(current.values()))
    if kept:
        write.upsert_nodes("StyleNote", kept)
        write.upsert_edges("STYLE_OF", [{"src": n["note_id"], "dst": am_id} for n in kept])
    stored = set(store.existing_keys("StyleNote", [n["note_id"] for n in dropped]))
    if stored:
        write.delete_nodes("StyleNote", sorted(stored))
    return kept


def compact_notes(
    notes: list[dict[str, Any]], *, max_notes: int = MAX_NOTES
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, dropped): best supported, then newest, at most ``max_notes``."""
    ordered = sorted(notes, key=lambda n: (-n["support"], -n["updated_at"].timestamp(), n["text"]))
    return ordered[:max_notes], ordered[max_notes:]


def style_notes(store: GraphStore, am_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each AM's notes, best supported first."""
    if not am_ids:
        return {}
    frame = store.nodes("StyleNote", {"am_id": sorted(set(am_ids))})
    out: dict[str, list[str]] = {}
    for row in frame.sort(
        ["am_id", "support", "updated_at"], descending=[False, True, True]
    ).iter_rows(named=True):
        out.setdefault(row["am_id"], []).append(row["text"])
    return out


def apply_layout_notes(
    notes: Sequence[str], *, first_name: str | None, am_first: str
) -> dict[str, Any]:
    """What the offline drafter takes from notes: greeting, sign-off, word limit."""
    layout: dict[str, Any] = {}
    for note in notes:
        if note.startswith(GREETING) and "greeting" not in layout:
            text = note[len(GREETING) :]
            if "{first_name}" in text and not first_name:
                continue
            layout["greeting"] = text.replace("{first_name}", first_name or "").replace(
                "{am_first_name}", am_first
            )
        elif note.startswith(SIGN_OFF) and "sign_off" not in layout:
            layout["sign_off"] = (
                note[len(SIGN_OFF) :]
                .replace("{am_first_name}", am_first)
                .replace("{first_name}", first_name or "")
            )
        elif (m := re.fullmatch(r"Keeps emails under (\d+) words", note)) and "words" not in layout:
            layout["words"] = int(m.group(1))
    return layout


def configured_style_writer(settings: Settings) -> ClaudeStyleNotes | None:
    """Claude writes the style notes of an AM's edit when a key is set; None means
    the rules write them."""
    if not settings.anthropic_api_key:
        return None
    from drafting.claude import ClaudeStyleNotes  # the SDK only when it is used

    return ClaudeStyleNotes(settings)
