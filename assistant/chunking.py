"""Articles into passages: token-aware, on sentence and paragraph boundaries.

Every passage is an exact span of its article (``article.text[start:end] == text``), so a
citation can always point at the characters it quotes. Structure that only makes sense
together is kept together: a heading stays with what follows it, and a bullet list stays
with the sentence or heading that says what the list is.

Hostile input stays bounded: every passage is at most ``ChunkSizes.maximum`` tokens
(counted on its real text, not estimated), a run of text without any sentence end or
whitespace (a 5 MB line, a base64 blob) is cut by token count, the sentence splitter
does not backtrack over long runs of punctuation, and no stage tokenizes a span it
already knows to be too large. Time grows linearly with the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .models import Article, Passage
from .text import is_list_item, split_sentences, trim
from .tokens import count_tokens

__all__ = ["ChunkSizes", "chunk_article"]


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


_MD_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_TERMINAL = tuple('.!?"”’:;)')
# No cl100k_base token is longer than this many bytes (so many characters at most): a
# span of more than ``n * _MAX_TOKEN_BYTES`` characters is certainly over ``n`` tokens.
_MAX_TOKEN_BYTES = 128


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    if _MD_HEADING.match(stripped):
        return True
    if not stripped or is_list_item(line) or stripped.endswith(_TERMINAL):
        return False
    return len(stripped.split()) <= 12


def _lines(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Non-blank lines of ``text[start:end]`` as trimmed spans."""
    end = len(text) if end is None else end
    spans, pos = [], start
    for raw in text[start:end].split("\n"):
        a, b = trim(text, pos, pos + len(raw))
        if a < b:
            spans.append((a, b))
        pos += len(raw) + 1
    return spans


def _count(text: str, start: int, end: int, cap: int) -> int:
    """Tokens in ``text[start:end]``; just ``cap + 1`` when the span is certainly longer
    than ``cap`` tokens (tokenizing megabytes of one unbroken word is slow)."""
    if end - start > cap * _MAX_TOKEN_BYTES:
        return cap + 1
    return count_tokens(text[start:end])


def _span(text: str, start: int, end: int, new_block: bool, cap: int) -> _Span:
    return _Span(start, end, _count(text, start, end, cap), new_block)


def _join(text: str, spans: list[_Span], cap: int) -> _Span:
    return _span(text, spans[0].start, spans[-1].end, spans[0].new_block, cap)


def _structural_units(text: str, cap: int) -> list[_Span]:
    """Sentences, with headings and bullet lists glued to the text they belong to."""
    units: list[_Span] = []
    pending_heading: list[_Span] = []
    lines = _lines(text)
    i = 0
    while i < len(lines):
        a, b = lines[i]
        line = text[a:b]
        if is_list_item(line):
            j = i
            while j + 1 < len(lines) and is_list_item(text[lines[j + 1][0] : lines[j + 1][1]]):
                j += 1
            listed = _span(text, a, lines[j][1], True, cap)
            # The list belongs with what introduces it: a pending heading, else the sentence before.
            intro = pending_heading or ([units.pop()] if units else [])
            units.append(_join(text, [*intro, listed], cap))
            pending_heading = []
            i = j + 1
            continue
        if _is_heading(line) and i + 1 < len(lines):
            pending_heading.append(_span(text, a, b, True, cap))
            i += 1
            continue
        sentences = [_span(text, s, e, n == 0, cap) for n, (s, e) in enumerate(split_sentences(text, a, b))]
        if pending_heading and sentences:
            sentences[0] = _join(text, [*pending_heading, sentences[0]], cap)
            pending_heading = []
        units.extend(sentences)
        i += 1
    units.extend(pending_heading)
    return units


def _split_oversized(text: str, unit: _Span, sizes: ChunkSizes) -> list[_Span]:
    """Cut a unit larger than the maximum: at sentences or lines first, then at words,
    and a word itself larger than the maximum by token count."""
    cap = sizes.maximum
    inner = [(s, e) for a, b in _lines(text, unit.start, unit.end) for s, e in split_sentences(text, a, b)]
    pieces = [_span(text, s, e, False, cap) for s, e in inner] or [unit]
    out: list[_Span] = []
    for piece in pieces:
        if piece.tokens <= sizes.maximum:
            out.append(piece)
            continue
        window: list[int] = []  # [start, end] of the words gathered so far
        window_tokens = 0
        for match in re.finditer(r"\S+", text[piece.start : piece.end]):
            ws, we = piece.start + match.start(), piece.start + match.end()
            size = cap + 1 if we - ws > cap * _MAX_TOKEN_BYTES else count_tokens(" " + text[ws:we])
            if size > sizes.maximum:  # one "word" over the maximum: a URL, a blob, a 5 MB line
                if window:
                    out.append(_span(text, window[0], window[1], False, cap))
                    window, window_tokens = [], 0
                out.extend(_Span(s, e, n, False) for s, e, n in _cut_by_tokens(text, ws, we, sizes.target))
                continue
            if window and window_tokens + size > sizes.target:
                out.append(_span(text, window[0], window[1], False, cap))
                window, window_tokens = [], 0
            window = [window[0] if window else ws, we]
            window_tokens += size
        if window:
            out.append(_span(text, window[0], window[1], False, cap))
    return out


def _cut_by_tokens(text: str, start: int, end: int, limit: int) -> list[tuple[int, int, int]]:
    """Cut ``text[start:end]`` into consecutive trimmed spans ``(start, end, tokens)`` of
    at most ``limit`` tokens, at whitespace when there is some in the second half of a
    span, else anywhere. ``tokens`` is counted before trimming (an upper bound).

    Each step tokenizes a window of at most ``limit * _MAX_TOKEN_BYTES`` characters whose
    length adapts to how many characters a token covers here, so the cost is linear.
    """
    spans: list[tuple[int, int, int]] = []
    step = max(1, limit * 4)
    s = start
    while s < end:
        e = min(end, s + step)
        n = count_tokens(text[s:e])
        if n > limit and e - s > 1:
            step = max(1, (e - s) * limit // (n + 1))  # strictly shorter: try again
            continue
        if e < end:
            cut = _last_space(text, s + max(1, (e - s) // 2), e)
            if cut is not None:
                n_cut = count_tokens(text[s:cut])
                if n_cut <= limit:
                    e, n = cut, n_cut
        a, b = trim(text, s, e)
        if a < b:
            spans.append((a, b, n))
        if n < limit // 2:
            step = min(step * 2, limit * _MAX_TOKEN_BYTES)
        s = e
    return spans


def _last_space(text: str, lo: int, hi: int) -> int | None:
    for i in range(hi - 1, lo - 1, -1):
        if text[i].isspace():
            return i
    return None


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


def _fit(text: str, chunk: list[_Span], maximum: int, covered: int = -1) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` of the passage(s) a packed chunk becomes.

    Packing adds up unit sizes, but the whitespace between units costs tokens too (a
    thousand one-word lines are two thousand tokens), so the real text is counted and a
    chunk over the maximum is halved until every part fits. ``covered`` is where the
    previous passage ends: the overlap units repeated from it are dropped from a chunk
    that must be split, or a part made only of them would be a passage inside another.
    """
    start, end = chunk[0].start, chunk[-1].end
    tokens = _count(text, start, end, maximum)
    if tokens <= maximum:
        return [(start, end, tokens)]
    fresh = [u for u in chunk if u.end > covered]
    if fresh and len(fresh) < len(chunk):
        return _fit(text, fresh, maximum)
    if len(chunk) == 1:
        return [(s, e, count_tokens(text[s:e])) for s, e, _ in _cut_by_tokens(text, start, end, maximum)]
    middle = len(chunk) // 2
    return _fit(text, chunk[:middle], maximum) + _fit(text, chunk[middle:], maximum)


def chunk_article(article: Article, sizes: ChunkSizes = ChunkSizes()) -> list[Passage]:
    text = article.text
    units: list[_Span] = []
    for unit in _structural_units(text, sizes.maximum):
        units.extend(_split_oversized(text, unit, sizes) if unit.tokens > sizes.maximum else [unit])
    spans: list[tuple[int, int, int]] = []
    for chunk in _pack(units, sizes):
        for span in _fit(text, chunk, sizes.maximum, spans[-1][1] if spans else -1):
            # The mirror of ``_fit``'s ``covered``: there a split chunk drops the overlap
            # it repeats; here the previous chunk was split (its whitespace cost more
            # than its units), its last part is just that overlap, and this chunk fits
            # whole, so that part, now inside this passage, gives way.
            while spans and span[0] <= spans[-1][0] and span[1] >= spans[-1][1]:
                spans.pop()
            spans.append(span)
    passages = []
    for position, (start, end, tokens) in enumerate(spans):
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
                tokens=tokens,
                site=article.site,
                summary_only=article.summary_only,
                page=article.page_at(start),
                page_breaks=tuple(p for p in article.pages if start < p < end),
            )
        )
    return passages
