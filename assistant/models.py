"""Plain data passed between the stages: articles, passages, search hits, ingest reports."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Article", "Passage", "SearchHit", "SkippedFile", "IngestReport"]


@dataclass(frozen=True)
class Article:
    """One article as loaded from a file or a feed entry.

    ``text`` is the canonical text every passage offset refers to.
    ``source`` is what users see (the file name, or the url when the feed gives one);
    ``path`` is the absolute file the article came from, used for updates and pruning.
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
