"""Plain data between the store and its callers: what a passage is stored as, what the
store knows of an article, and the filters a search applies on both sides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..lexical import LexicalIndex
from ..models import Passage

__all__ = [
    "ArticleRecord",
    "SearchFilter",
    "published_day",
    "metadata_of",
    "passage_from_record",
    "article_records",
]


@dataclass(frozen=True)
class ArticleRecord:
    """What the store holds of one article: enough to decide unchanged / update / prune."""

    article_id: str
    content_hash: str
    path: str
    source: str
    title: str
    chunk_ids: tuple[str, ...]
    complete: bool  # all of its passages are present with one content hash
    # Content hashes whose passages are all present (an update killed between adding the
    # new passages and deleting the old ones leaves two hashes, the new one complete).
    complete_hashes: frozenset[str] = frozenset()
    summary_only: bool = False  # a feed entry stored as its summary, not the article


@dataclass(frozen=True)
class SearchFilter:
    sources: tuple[str, ...] = ()
    published_from: int | None = None  # YYYYMMDD
    published_to: int | None = None

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.published_from is not None:
            clauses.append({"published_day": {"$gte": self.published_from}})
        if self.published_to is not None:
            clauses.append({"published_day": {"$lte": self.published_to}})
            clauses.append({"published_day": {"$gt": 0}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def lexical_mask(self, lexical: LexicalIndex):
        return lexical.mask(set(self.sources) or None, self.published_from, self.published_to)


def published_day(published: str | None) -> int:
    """'2024-11-05' -> 20241105; 0 when unknown."""
    if not published:
        return 0
    try:
        return int(published[:10].replace("-", ""))
    except ValueError:
        return 0


def metadata_of(passage: Passage, n_passages: int) -> dict:
    """What Chroma stores beside a passage's text and vector."""
    return {
        "article_id": passage.article_id,
        "position": passage.position,
        "n_passages": n_passages,
        "start": passage.start,
        "end": passage.end,
        "title": passage.title,
        "source": passage.source,
        "path": passage.path,
        "content_hash": passage.content_hash,
        "url": passage.url or "",
        "published": passage.published or "",
        "published_day": published_day(passage.published),
        "author": passage.author or "",
        "tokens": passage.tokens,
        "site": passage.site or "",
        "summary_only": passage.summary_only,
        "page": passage.page or 0,
        "page_breaks": ",".join(map(str, passage.page_breaks)),
    }


def passage_from_record(chunk_id: str, text: str, meta: dict) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        article_id=meta["article_id"],
        position=int(meta["position"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=meta.get("title", ""),
        source=meta.get("source", ""),
        path=meta.get("path", ""),
        content_hash=meta.get("content_hash", ""),
        url=meta.get("url") or None,
        published=meta.get("published") or None,
        author=meta.get("author") or None,
        tokens=int(meta.get("tokens", 0)),
        site=meta.get("site") or None,
        summary_only=bool(meta.get("summary_only", False)),
        page=int(meta.get("page") or 0) or None,
        page_breaks=tuple(int(b) for b in str(meta.get("page_breaks") or "").split(",") if b),
    )


def article_records(rows: Iterable[tuple[str, dict]]) -> dict[str, ArticleRecord]:
    """Stored passages' (chunk id, metadata) rows grouped into one record per article."""
    grouped: dict[str, list[tuple[str, dict]]] = {}
    for chunk_id, meta in rows:
        grouped.setdefault(meta["article_id"], []).append((chunk_id, meta))
    return {article_id: _record(article_id, mine) for article_id, mine in grouped.items()}


def _record(article_id: str, rows: list[tuple[str, dict]]) -> ArticleRecord:
    hashes = {m["content_hash"] for _, m in rows}
    expected = {int(m["n_passages"]) for _, m in rows}
    first = rows[0][1]
    complete_hashes = set()
    for content_hash in hashes:
        mine = [m for _, m in rows if m["content_hash"] == content_hash]
        if {int(m["n_passages"]) for m in mine} == {len(mine)}:
            complete_hashes.add(content_hash)
    return ArticleRecord(
        article_id=article_id,
        content_hash=first["content_hash"],
        path=first["path"],
        source=first["source"],
        title=first["title"],
        chunk_ids=tuple(sorted(c for c, _ in rows)),
        complete=len(hashes) == 1 and expected == {len(rows)},
        complete_hashes=frozenset(complete_hashes),
        summary_only=bool(first.get("summary_only", False)),
    )
