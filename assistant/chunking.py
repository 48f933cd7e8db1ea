"""Articles into passages: token-aware, on sentence and paragraph boundaries.

Every passage is an exact span of its article (``article.text[start:end] == text``), so a
citation can always point at the characters it quotes. Structure that only makes sense
together is kept together: a heading stays with what follows it, and a bullet list stays
with the sentence or heading that says what the list is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Article, Passage
from .tokens import count_tokens

__all__ = ["ChunkSizes", "chunk_article", "split_sentences"]


@dataclass(frozen=True)
class ChunkSizes:
    target: int = 160
    maximum: int = 260
    minimum: int = 80
    overlap: int = 40


@dataclass(frozen=True)
class _Span:
    """A run of article text that is packed as one piece: ``tokens`` is its size."""

    start: int
    end: int
    tokens: int
    new_block: bool  # starts a new paragraph, heading or list: a good place to cut


_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,3}[.)])\s+\S")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_TERMINAL = tuple('.!?"”’:;)')
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt gen gov sen rep col lt sgt capt cmdr adm pres vs etc inc corp "
    "ltd co no nos fig approx dept est jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e a.m p.m".split()
)
# A sentence ends at . ! ? (possibly closed by quotes/brackets) followed by space.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+)")


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    if _MD_HEADING.match(stripped):
        return True
    if not stripped or _BULLET.match(line) or stripped.endswith(_TERMINAL):
        return False
    return len(stripped.split()) <= 12


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
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[0] < s[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _lines(text: str) -> list[tuple[int, int]]:
    """Non-blank lines as trimmed spans."""
    spans, pos = [], 0
    for raw in text.split("\n"):
        a, b = _trim(text, pos, pos + len(raw))
        if a < b:
            spans.append((a, b))
        pos += len(raw) + 1
    return spans


def _span(text: str, start: int, end: int, new_block: bool) -> _Span:
    return _Span(start, end, count_tokens(text[start:end]), new_block)


def _join(text: str, spans: list[_Span]) -> _Span:
    return _span(text, spans[0].start, spans[-1].end, spans[0].new_block)


def _structural_units(text: str) -> list[_Span]:
    """Sentences, with headings and bullet lists glued to the text they belong to."""
    units: list[_Span] = []
    pending_heading: list[_Span] = []
    lines = _lines(text)
    i = 0
    while i < len(lines):
        a, b = lines[i]
        line = text[a:b]
        if _BULLET.match(line):
            j = i
            while j + 1 < len(lines) and _BULLET.match(text[lines[j + 1][0] : lines[j + 1][1]]):
                j += 1
            listed = _span(text, a, lines[j][1], True)
            # The list belongs with what introduces it: a pending heading, else the sentence before.
            intro = pending_heading or ([units.pop()] if units else [])
            units.append(_join(text, [*intro, listed]))
            pending_heading = []
            i = j + 1
            continue
        if _is_heading(line) and i + 1 < len(lines):
            pending_heading.append(_span(text, a, b, True))
            i += 1
            continue
        sentences = [_span(text, s, e, n == 0) for n, (s, e) in enumerate(split_sentences(text, a, b))]
        if pending_heading and sentences:
            sentences[0] = _join(text, [*pending_heading, sentences[0]])
            pending_heading = []
        units.extend(sentences)
        i += 1
    units.extend(pending_heading)
    return units


def _split_oversized(text: str, unit: _Span, sizes: ChunkSizes) -> list[_Span]:
    """Cut a unit larger than the maximum: at sentences or lines first, then at words."""
    inner = [(s, e) for a, b in _lines(text[: unit.end])[::1] if a >= unit.start for s, e in split_sentences(text, a, b)]
    pieces = [_span(text, s, e, False) for s, e in inner] or [unit]
    out: list[_Span] = []
    for piece in pieces:
        if piece.tokens <= sizes.maximum:
            out.append(piece)
            continue
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[piece.start : piece.end])]
        window_start, window_tokens = 0, 0
        for k, (ws, we) in enumerate(words):
            size = count_tokens(" " + text[piece.start + ws : piece.start + we])
            if window_tokens + size > sizes.target and k > window_start:
                out.append(_span(text, piece.start + words[window_start][0], piece.start + words[k - 1][1], False))
                window_start, window_tokens = k, 0
            window_tokens += size
        out.append(_span(text, piece.start + words[window_start][0], piece.start + words[-1][1], False))
    return out


def _pack(units: list[_Span], sizes: ChunkSizes) -> list[list[_Span]]:
    """Greedy packing toward the target size, cutting at block starts when the chunk is big enough."""
    chunks: list[list[_Span]] = []
    current: list[_Span] = []
    size = 0
    for unit in units:
        too_big = size + unit.tokens > sizes.maximum
        past_target = size + unit.tokens > sizes.target and size >= sizes.minimum
        good_cut = unit.new_block and size >= sizes.target * 0.75
        if current and (too_big or past_target or good_cut):
            chunks.append(current)
            current = _overlap_tail(current, unit, sizes)
            size = sum(u.tokens for u in current)
        current.append(unit)
        size += unit.tokens
    if current:
        chunks.append(current)
    if len(chunks) > 1:
        tail = sum(u.tokens for u in chunks[-1])
        merged = {(u.start, u.end): u for u in chunks[-2] + chunks[-1]}
        if tail < sizes.minimum and sum(u.tokens for u in merged.values()) <= sizes.maximum:
            chunks[-2:] = [sorted(merged.values(), key=lambda u: u.start)]
    return chunks


def _overlap_tail(previous: list[_Span], upcoming: _Span, sizes: ChunkSizes) -> list[_Span]:
    """Trailing sentences of the previous chunk to repeat, unless a new section starts anyway."""
    if upcoming.new_block or sizes.overlap <= 0:
        return []
    tail: list[_Span] = []
    budget = sizes.overlap
    for unit in reversed(previous[1:]):
        if unit.tokens > budget:
            break
        tail.insert(0, unit)
        budget -= unit.tokens
    return tail


def chunk_article(article: Article, sizes: ChunkSizes = ChunkSizes()) -> list[Passage]:
    text = article.text
    units: list[_Span] = []
    for unit in _structural_units(text):
        units.extend(_split_oversized(text, unit, sizes) if unit.tokens > sizes.maximum else [unit])
    passages = []
    for position, chunk in enumerate(_pack(units, sizes)):
        start, end = chunk[0].start, chunk[-1].end
        passages.append(
            Passage(
                chunk_id=f"{article.article_id}-{article.content_hash[:8]}-{position:04d}",
                article_id=article.article_id,
                position=position,
                text=text[start:end],
                start=start,
                end=end,
                title=article.title,
                source=article.source,
                path=article.path,
                content_hash=article.content_hash,
                url=article.url,
                published=article.published,
                author=article.author,
                tokens=count_tokens(text[start:end]),
            )
        )
    return passages
