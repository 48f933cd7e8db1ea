"""Plain data passed between the stages: articles, passages, search hits, ingest reports."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

__all__ = [
    "Article",
    "Passage",
    "SearchHit",
    "SkippedFile",
    "IngestReport",
    "Citation",
    "AnswerSentence",
    "Repairs",
    "Answer",
]


@dataclass(frozen=True)
class Article:
    """One article as loaded from a file or a feed entry.

    ``text`` is the canonical text every passage offset refers to.
    ``source`` is what users see (the file name, or the url when the feed gives one);
    ``path`` is the absolute file (or the URL) the article came from, used for updates
    and pruning. ``site`` is the publication's name, when the page says it.
    ``summary_only`` marks a feed entry that held only its summary, not the article.
    ``pages`` is, for a paged source (a PDF), the offset in ``text`` where each page
    starts: ``pages[0] == 0`` is page 1.
    """

    article_id: str
    title: str
    text: str
    source: str
    path: str
    content_hash: str
    url: str | None = None
    published: str | None = None  # ISO date, YYYY-MM-DD
    author: str | None = None
    site: str | None = None
    summary_only: bool = False
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding ``text[offset]``; None for an article without pages."""
        return page_number(self.pages, offset)


def page_number(starts: tuple[int, ...], offset: int, first: int = 1) -> int | None:
    """Which of the pages starting at ``starts`` (numbered from ``first``) holds ``offset``."""
    if not starts:
        return None
    return first + max(0, bisect_right(starts, offset) - 1)


@dataclass(frozen=True)
class Passage:
    """A span of one article: ``article.text[start:end] == text``."""

    chunk_id: str
    article_id: str
    position: int
    text: str
    start: int
    end: int
    title: str
    source: str
    path: str
    content_hash: str
    url: str | None = None
    published: str | None = None
    author: str | None = None
    tokens: int = 0
    site: str | None = None
    summary_only: bool = False
    # For an article with pages: the page this passage starts on, and the article offsets
    # inside the passage where a later page starts (so a quote's own page can be told).
    page: int | None = None
    page_breaks: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page holding article offset ``offset`` (inside this passage); None without pages."""
        if self.page is None:
            return None
        return self.page + sum(1 for start in self.page_breaks if start <= offset)

    def as_json(self) -> dict:
        """The fields scripts see for a passage (search results and citations)."""
        data = {
            "source": self.source,
            "title": self.title,
            "chunk_id": self.chunk_id,
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }
        # Only when they apply, so the fields of a plain file's passage stay as they were.
        if self.site:
            data["site"] = self.site
        if self.page is not None:
            data["page"] = self.page
        if self.summary_only:
            data["summary_only"] = True
        return data


@dataclass(frozen=True)
class SearchHit:
    """A passage found by a search, with its fused score and the ranks behind it."""

    passage: Passage
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    lexical_score: float | None = None


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What an ingest run did. ``chunks`` counts the passages embedded in this run."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)

    @property
    def ingested_anything(self) -> bool:
        return (self.added + self.updated + self.unchanged) > 0

    def as_json(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


@dataclass(frozen=True)
class Citation:
    """A verified link from an answer to a passage. ``n`` is the number shown in the
    answer; ``quote`` is the span of the passage that best supports the sentence(s) citing
    it, at ``quote_start:quote_end`` of the article text."""

    n: int
    passage: Passage
    quote: str
    quote_start: int
    quote_end: int
    support: float

    def as_json(self) -> dict:
        data = {"n": self.n, **self.passage.as_json(), "quote": self.quote}
        if self.passage.page is not None:
            data["page"] = self.passage.page_at(self.quote_start)  # the quote's own page
        return data


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer: its text without markers and the citations it carries.
    ``factual`` is False for sentences that state nothing to cite ("Here is what I found:")."""

    text: str
    citations: tuple[int, ...] = ()
    factual: bool = True
    quotes: tuple[str, ...] = ()  # per citation, the passage span that backs this sentence


@dataclass(frozen=True)
class Repairs:
    """What the verifier changed in the model's citations."""

    kept: int = 0
    moved: int = 0  # marker pointed at a passage that does not support the sentence; moved to one that does
    added: int = 0  # sentence had no marker; the supporting passage was added
    dropped: int = 0  # marker out of range, or pointing at no passage that supports the sentence
    unsupported_sentences: int = 0  # factual sentences no passage supports: removed from the answer

    def as_json(self) -> dict:
        return {
            "kept": self.kept,
            "moved": self.moved,
            "added": self.added,
            "dropped": self.dropped,
            "unsupported_sentences": self.unsupported_sentences,
        }


@dataclass(frozen=True)
class Answer:
    question: str
    text: str  # the verified answer with its [n] markers
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    refused: bool
    passages: tuple[SearchHit, ...]  # the passages given to the provider (the closest ones when refused)
    provider: str
    model: str
    timings: dict[str, float]
    repairs: Repairs = Repairs()
    raw_text: str = ""  # what the provider produced, before verification
    settings_hash: str = ""
    standalone_question: str = ""  # the question as retrieved with (a follow-up rewritten to stand alone)
    refusal_odds: float | None = None  # the writer's own probability of refusing, read from its first tokens
    # answered; refused (by the writer or the verifier); doubted (refusal_odds too high); reconsidered
    # (refused with low refusal_odds, then answered from the model's likeliest other opening);
    # extractive-fallback (refused, then a closely matching passage sentence); off-question (lacked
    # the quantity, duration or time the question asks for, relevance.py)
    decision: str = "answered"

    def as_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.as_json() for c in self.citations],
            "provider": self.provider,
            "model": self.model,
            "timings": {
                k: round(self.timings.get(k, 0.0), 3)
                for k in ("retrieve_s", "first_token_s", "generate_s", "total_s")
            },
        }
