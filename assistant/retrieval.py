"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by weighted
reciprocal rank fusion, with the same metadata filters applied on both sides."""

from __future__ import annotations

from datetime import date
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever

from .config import Settings
from .errors import AssistantError
from .models import Passage, SearchHit
from .store import PassageStore, SearchFilter

__all__ = ["Searcher", "HybridRetriever", "make_filter"]


def make_filter(
    sources: list[str] | None = None, since: str | None = None, until: str | None = None
) -> SearchFilter:
    """Filters from user input; dates are ``YYYY-MM-DD`` (a bad one is a user error)."""

    def day(value: str | None, name: str) -> int | None:
        if not value:
            return None
        try:
            return int(date.fromisoformat(value).strftime("%Y%m%d"))
        except ValueError:
            raise AssistantError(f"--{name} expects a date like 2024-05-31, got '{value}'") from None

    return SearchFilter(tuple(sources or ()), day(since, "since"), day(until, "until"))


class Searcher:
    """Answers ``search(query)`` over one store; holds the embedder and settings."""

    def __init__(self, store: PassageStore, embeddings: Embeddings, settings: Settings):
        self.store = store
        self.embeddings = embeddings
        self.settings = settings
        self._vectors: dict[str, Any] = {}  # text -> vector; sentences recur across answering stages

    def embed(self, texts: list[str]):
        """Vectors of ``texts`` as an array, remembering recent ones (bounded)."""
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            if hasattr(self.embeddings, "embed_array"):
                fresh = self.embeddings.embed_array(missing)
            else:
                fresh = np.asarray(self.embeddings.embed_documents(missing), dtype=np.float32)
            if len(self._vectors) + len(missing) > 20_000:
                self._vectors.clear()
            self._vectors.update(zip(missing, fresh))
        return np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)

    # -- what answering needs to know of the index, without reaching into the store --------
    def idf(self, terms: set[str]) -> dict[str, float]:
        """Each (tokenized) term's idf over the whole index: a word in every passage weighs little."""
        return self.store.lexical.idf(terms)

    def passage_count(self) -> int:
        """How many passages the index holds. Counted on the lexical side, which is in memory
        and holds every passage: no round trip to Chroma."""
        return len(self.store.lexical)

    def is_empty(self) -> bool:
        """Whether no passage is ingested yet. Asked of Chroma, the source of truth, so that
        opening a chat does not wait for the lexical side to load (it loads on the warm-up
        thread)."""
        return self.store.count() == 0

    def all_passages(self) -> list[Passage]:
        """Every passage of the index (for a small one: a model that reads them all)."""
        return self.store.all_passages()

    def article_passages(self, article_id: str) -> list[Passage]:
        """Every passage of one article, in reading order (to show the article around a quote)."""
        return self.store.article_passages(article_id)

    def search(
        self, query: str, k: int | None = None, where: SearchFilter = SearchFilter()
    ) -> list[SearchHit]:
        query = query.strip()
        if not query:
            raise AssistantError("the query is empty: type some words to search for")
        k = k or self.settings.search_k
        depth = max(self.settings.search_candidates, k)
        self.store.catch_up()  # articles ingested meanwhile (from another terminal) are found
        dense = self.store.dense_search(self.embeddings.embed_query(query), depth, where.chroma_where())
        bm25 = self.store.lexical  # once: another thread's catch-up may load a newer one meanwhile
        lexical = bm25.search(query, depth, where.lexical_mask(bm25))
        return self._fuse(dense, lexical, k)

    def _fuse(self, dense, lexical, k: int) -> list[SearchHit]:
        s = self.settings
        fused: dict[str, dict[str, Any]] = {}
        for rank, (passage, score) in enumerate(dense, start=1):
            fused[passage.chunk_id] = {"passage": passage, "dense_rank": rank, "dense_score": score}
        for rank, (chunk_id, score) in enumerate(lexical, start=1):
            fused.setdefault(chunk_id, {}).update(lexical_rank=rank, lexical_score=score)
        missing = [cid for cid, row in fused.items() if "passage" not in row]
        for cid, passage in self.store.passages(missing).items():
            fused[cid]["passage"] = passage

        def rrf(row: dict) -> float:
            total = 0.0
            if row.get("dense_rank"):
                total += s.dense_weight / (s.rrf_k + row["dense_rank"])
            if row.get("lexical_rank"):
                total += s.lexical_weight / (s.rrf_k + row["lexical_rank"])
            return total

        rows = [r for r in fused.values() if "passage" in r]  # a passage deleted meanwhile drops out
        rows.sort(key=lambda r: (-rrf(r), -(r.get("dense_score") or -1.0)))
        return [
            SearchHit(
                passage=r["passage"],
                score=rrf(r),
                dense_rank=r.get("dense_rank"),
                lexical_rank=r.get("lexical_rank"),
                dense_score=r.get("dense_score"),
                lexical_score=r.get("lexical_score"),
            )
            for r in rows[:k]
        ]


class HybridRetriever(BaseRetriever):
    """The hybrid search as a LangChain retriever (documents carry passage metadata)."""

    searcher: Any
    k: int = 5
    where: Any = SearchFilter()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(
                id=hit.passage.chunk_id,
                page_content=hit.passage.text,
                metadata={
                    "chunk_id": hit.passage.chunk_id,
                    "source": hit.passage.source,
                    "title": hit.passage.title,
                    "start": hit.passage.start,
                    "end": hit.passage.end,
                    "score": hit.score,
                },
            )
            for hit in self.searcher.search(query, self.k, self.where)
        ]
