"""Links, email addresses and markup in free text, found the way a recipient's mail
client or a renderer would see them.

A host is a dotted name whose top-level label the public-suffix list knows (the
snapshot shipped in ``publicsuffixlist``, ICANN and private sections, the list
``ingest.normalise`` reads) or a special-use name (RFC 2606 and 6761: ``example``,
``test``, ``invalid``, ``localhost``, ``local``, ``onion``; also ``internal`` and
``alt``), with or without a scheme, a port or a path: ``evil.example``,
``evil.example/x``, ``https://x.y.com/a``, ``www.foo.co.uk``. Prose is left alone
because no top-level domain is called "g", "s", "0", "5" or "pdf": "e.g.", "U.S.",
"v2.0", "3.5" and "report.pdf" are not hosts. Names that look like files but end in
a real top-level domain ("update.zip", "readme.md") are hosts: those domains exist,
and look like files precisely so that people follow them.

Text is read as it would be shown: NFKC (full-width letters and dots become ASCII),
the ideographic full stops IDNA reads as dots, invisible format characters dropped.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from publicsuffixlist import PSLFILE

Kind = Literal["markup", "URL", "domain", "email address"]
KINDS: tuple[Kind, ...] = ("markup", "URL", "domain", "email address")

SPECIAL_USE = frozenset(
    {"example", "test", "invalid", "localhost", "local", "onion", "internal", "alt"}
)

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _mark_ranges() -> str:
    """A character-class body of every combining mark (Unicode category M): ``\\w``
    leaves them out, yet they are letters of Thai, Devanagari and other labels
    ("ธุรกิจ.ไทย")."""
    ranges: list[tuple[int, int]] = []
    for code in (*range(0x0300, 0x20000), *range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)


_MARKS = _mark_ranges()
_LETTER = rf"(?:[^\W_]|[{_MARKS}])"
_LABEL = rf"{_LETTER}(?:[\w{_MARKS}-]{{0,61}}{_LETTER})?"
_TRAILING = ".,;:!?)]}'\""
# Bounded repeats and token-start lookbehinds keep every pattern linear in the text.
SCHEME_URL = re.compile(
    r"\b(?:[a-z][a-z0-9+.-]{0,31}://|(?:javascript|vbscript|data|file):)[^\s<>\"'`]+", re.I
)
_ATEXT = r"[\w.!#$%&'*+/=?^`{|}~-]"
ADDRESS = re.compile(rf"(?<!{_ATEXT}){_ATEXT}+@((?:{_LABEL}\.)+{_LABEL})", re.I)
BARE_HOST = re.compile(
    rf"(?<![\w.@-])((?:{_LABEL}\.)+{_LABEL})((?::\d{{1,5}})?(?:[/?#][^\s<>\"'`]*)?)", re.I
)
MARKUP = re.compile(
    r"</?[a-z!?][^<>]*(?:>|$)"  # HTML or XML tags, comments, an unclosed tag
    r"|!?\[[^\[\]\n]{0,500}\]\([^)\n]{0,2000}\)"  # markdown links and images
    r"|!?\[[^\[\]\n]{0,500}\]\[[^\]\n]{0,500}\]"  # markdown reference links
    r"|^[ \t]*\[[^\]\n]{1,500}\]:[ \t]*\S+"  # markdown link definitions
    r"|&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});",  # character references
    re.I | re.M,
)


@dataclass(frozen=True)
class Found:
    kind: Kind
    text: str  # as shown (a domain's host and an address lower-cased)
    host: str | None = None  # lower-cased; None for markup or a URL without one


@lru_cache(maxsize=1)
def top_level_domains() -> frozenset[str]:
    """The last label of every rule in the public-suffix list (every suffix ends in a
    top-level domain that has a rule of its own), in Unicode and punycode forms."""
    labels: set[str] = set()
    with open(PSLFILE, encoding="utf-8") as fh:
        for line in fh:
            rule = line.strip().split(" ")[0].lower()
            if rule and not rule.startswith("//"):
                tld = rule.rsplit(".", 1)[-1].lstrip("!")
                labels.add(tld)
                with suppress(UnicodeError):
                    labels.add(tld.encode("idna").decode("ascii"))
    return frozenset(labels)


def readable(text: str) -> str:
    """``text`` as a reader sees it: compatibility forms folded, IDNA dots as dots,
    zero-width and other format characters gone."""
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKC", text).translate(_DOTS)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


def is_host(name: str) -> bool:
    """A dotted name under a known top-level domain or a special-use one."""
    labels = name.strip(".").split(".")
    return len(labels) > 1 and all(labels) and _tld(labels[-1])


def _tld(label: str) -> bool:
    label = label.lower()
    return label in SPECIAL_USE or label in top_level_domains()


def _ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _blank(text: str, match: re.Match[str]) -> str:
    start, end = match.span()
    return text[:start] + " " * (end - start) + text[end:]


def find_links(text: str) -> list[Found]:
    """Email addresses, URLs and bare domains in ``text``, in that order of kinds, each
    in order of appearance (an address's or a URL's host is not found again alone)."""
    text = readable(text)
    found: list[Found] = []
    for match in ADDRESS.finditer(text):
        found.append(Found("email address", match.group(0).lower(), match.group(1).lower()))
        text = _blank(text, match)
    for match in SCHEME_URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        found.append(Found("URL", url, _url_host(url)))
        text = _blank(text, match)
    for match in BARE_HOST.finditer(text):
        bare = _bare(match.group(1), match.group(2).rstrip(_TRAILING))
        if bare is not None:
            found.append(bare)
    return found


def _url_host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def _bare(name: str, tail: str) -> Found | None:
    labels = name.split(".")
    if name.lower().startswith("www.") and len(labels) > 2:
        host: str | None = name
    elif _ip(name):
        host = name if tail else None  # "1.2.3.4" alone is as likely a version
    else:
        # The longest run of leading labels that is a host: "evil.example.Next" (a
        # missing space) still shows "evil.example".
        known = next((n for n in range(len(labels), 1, -1) if _tld(labels[n - 1])), 0)
        host = ".".join(labels[:known]) if known else None
        tail = tail if host == name else ""
    if host is None:
        return None
    host = host.lower()
    return Found("URL", f"{name}{tail}", host) if tail else Found("domain", host, host)


def find_markup(text: str) -> list[Found]:
    """HTML tags, markdown links and character references in ``text``."""
    return [Found("markup", m.group(0).strip()) for m in MARKUP.finditer(readable(text))]


def carried(text: str) -> list[Found]:
    """Everything in ``text`` a renderer could act on or a reader could follow."""
    return [*find_markup(text), *find_links(text)]
