"""News-article question answering that cites every sentence.

The public API is listed in ``__all__``; names are imported on first use so that
importing the package (and ``assistant --help``) stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Article": "models",
    "Passage": "models",
    "SearchHit": "models",
    "IngestReport": "models",
    "SkippedFile": "models",
    "Citation": "models",
    "Answer": "models",
    "Answerer": "answer",
    "ChatSession": "chat",
    "Turn": "followup",
    "Settings": "config",
    "load_settings": "config",
    "load_file": "documents",
    "discover": "documents",
    "chunk_article": "chunking",
    "ChunkSizes": "chunking",
    "MiniLMEmbeddings": "embeddings",
    "make_embeddings": "embeddings",
    "PassageStore": "store",
    "SearchFilter": "store",
    "Searcher": "retrieval",
    "HybridRetriever": "retrieval",
    "make_filter": "retrieval",
    "AssistantError": "errors",
    "ConfigError": "errors",
    "LoaderError": "errors",
    "EmbeddingMismatch": "errors",
    "IndexNotFound": "errors",
    "StoreUnavailable": "errors",
    "ProviderError": "errors",
    "QuestionError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .answer import Answerer
    from .chat import ChatSession
    from .chunking import ChunkSizes, chunk_article
    from .config import Settings, load_settings
    from .documents import discover, load_file
    from .embeddings import MiniLMEmbeddings, make_embeddings
    from .errors import (
        AssistantError,
        ConfigError,
        EmbeddingMismatch,
        IndexNotFound,
        LoaderError,
        ProviderError,
        QuestionError,
        StoreUnavailable,
    )
    from .followup import Turn
    from .models import Answer, Article, Citation, IngestReport, Passage, SearchHit, SkippedFile
    from .retrieval import HybridRetriever, Searcher, make_filter
    from .store import PassageStore, SearchFilter
