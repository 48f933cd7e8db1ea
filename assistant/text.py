"""Text rules shared by every stage: where sentences end, and what a list item looks like.

One definition each, so the chunker, the citation verifier, the passage focus, the
extractive provider and the loaders cut and read text the same way.
"""

from __future__ import annotations

import re

__all__ = ["BULLET", "is_list_item", "split_sentences", "trim"]

# A list item's marker: a dash, star or bullet, or "1." / "2)", then space.
BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,3}[.)])\s+")


def is_list_item(line: str) -> bool:
    """A line that starts with a list marker followed by text."""
    marker = BULLET.match(line)
    return bool(marker) and marker.end() < len(line.rstrip())


_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt gen gov sen rep col lt sgt capt cmdr adm pres vs etc inc corp "
    "ltd co no nos fig approx dept est jan feb mar apr jun jul aug sep sept oct nov dec "
    "e.g i.e a.m p.m".split()
)
# A sentence ends at . ! ? (possibly closed by quotes/brackets) followed by space. The
# lookbehind starts a match only at the first mark of a run: without it a long run of
# dots not followed by space is rescanned from every position (quadratic).
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]+[\"'”’)\]]*(?=\s)")


def _ends_abbreviation(text: str, dot_at: int) -> bool:
    """True when the '.' at ``dot_at`` closes an abbreviation or an initial, not a sentence."""
    if text[dot_at] != ".":
        return False
    word_start = dot_at
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot_at].lstrip("(\"'“‘").lower()
    if word in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))  # "u.s", "u.k"


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` within ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        nxt = match.end()
        while nxt < end and text[nxt].isspace():
            nxt += 1
        if nxt >= end:
            break
        following = text[nxt]
        if not (following.isupper() or following.isdigit() or following in "\"'“‘(["):
            continue
        if _ends_abbreviation(text, match.start()):
            continue
        spans.append((cursor, match.end()))
        cursor = nxt
    spans.append((cursor, end))
    return [s for s in (trim(text, a, b) for a, b in spans) if s[0] < s[1]]


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# A citation marker as models write them: "[1]", "[1][2]", "[1, 2]", "[1-3]", "[Passage 2]".
# The verifier parses these, and reads figures out of passage text with them taken out.
CITATION_MARKER = re.compile(
    r"\[\s*(?:(?:passage|source|doc(?:ument)?|ref)\s*)?(\d{1,6}(?:\s*(?:[,;]|–|-|and)\s*(?:(?:passage|source)\s*)?\d{1,6})*)\s*\]",
    re.IGNORECASE,
)
