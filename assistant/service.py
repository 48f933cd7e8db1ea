"""Wiring: build the objects a command needs from settings, in one place."""

from __future__ import annotations

from .config import Settings
from .embeddings import make_embeddings
from .retrieval import Searcher
from .store import PassageStore

__all__ = ["open_searcher", "open_answerer", "index_stats"]


def open_searcher(settings: Settings) -> Searcher:
    embeddings = make_embeddings(settings)
    store = PassageStore.open(settings, embeddings.model_id)
    return Searcher(store, embeddings, settings)


def open_answerer(settings: Settings, provider_name: str | None = None):
    from .answer import Answerer
    from .providers.registry import make_provider, start_early

    start_early(settings, provider_name)  # a model server loads while the index opens
    searcher = open_searcher(settings)
    return Answerer(searcher, make_provider(settings, searcher, provider_name), settings)


def index_stats(settings: Settings) -> dict:
    from .embeddings import model_id_for

    store = PassageStore.open(settings, model_id_for(settings))
    articles = store.articles()
    return {
        "location": (
            f"chroma://{settings.chroma_host}:{settings.chroma_port}/{settings.collection}"
            if settings.uses_server
            else str(settings.index_dir)
        ),
        "articles": len(articles),
        "summary_only_articles": sum(1 for record in articles.values() if record.summary_only),
        "passages": store.count(),
        "lexical_passages": len(store.lexical),
        "embedding_model": store.model_id,
        "size_bytes": store.size_on_disk(),
        "revision": store.revision,
    }
