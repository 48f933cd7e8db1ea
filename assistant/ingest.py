"""Ingest: files -> articles -> passages -> vectors -> store, incrementally.

An article whose content hash is already fully in the store is left alone (nothing is
re-embedded); a changed one has its old passages replaced; articles that vanished from a
file that was read again are removed, and with ``prune`` so are articles whose file is
gone. Passage ids are derived from article id, content hash and position, so they are
stable across runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .chunking import ChunkSizes, chunk_article
from .config import Settings
from .documents import discover, load_file
from .embeddings import make_embeddings, model_id_for
from .errors import LoaderError
from .models import Article, IngestReport, Passage, SkippedFile
from .store import PassageStore

__all__ = ["ingest", "IngestProgress", "embedding_text"]


@dataclass
class IngestProgress:
    """Callbacks a front end can hook to show progress; all optional."""

    on_files: Callable[[int], None] = lambda total: None
    on_file_done: Callable[[str], None] = lambda path: None
    on_embed_start: Callable[[int], None] = lambda total: None
    on_embedded: Callable[[int], None] = lambda count: None


def embedding_text(passage: Passage) -> str:
    """What is embedded: the passage, with its article title in front when the passage
    does not already start with it, so 'the company' still lands near its name."""
    if passage.title and not passage.text.startswith(passage.title):
        return f"{passage.title}\n{passage.text}"
    return passage.text


def _load_all(paths: list[Path], report: IngestReport, progress: IngestProgress) -> list[Article]:
    files, problems = discover(paths)
    for path, reason in problems:
        if reason.startswith("no such file"):
            report.missing_paths.append(path)
        report.skipped.append(SkippedFile(path, reason))
    progress.on_files(len(files))
    articles: dict[str, Article] = {}
    for file in files:
        try:
            result = load_file(file)
        except LoaderError as exc:
            report.skipped.append(SkippedFile(str(file), exc.reason))
        else:
            report.skipped.extend(SkippedFile(str(file), reason) for reason in result.problems)
            for article in result.articles:
                articles.setdefault(article.article_id, article)  # a file named twice counts once
        progress.on_file_done(str(file))
    return list(articles.values())


def ingest(
    paths: list[Path],
    settings: Settings,
    *,
    prune: bool = False,
    progress: IngestProgress | None = None,
    embeddings=None,
) -> IngestReport:
    progress = progress or IngestProgress()
    report = IngestReport()
    articles = _load_all(paths, report, progress)
    if not articles and not prune:
        return report
    embeddings = embeddings or make_embeddings(settings)
    store = PassageStore.open(settings, getattr(embeddings, "model_id", model_id_for(settings)), create=True)
    with store.write_lock():
        loaded_paths = sorted({a.path for a in articles})
        existing = store.articles(loaded_paths)
        remove_ids: list[str] = []
        fresh: list[Article] = []
        for article in articles:
            old = existing.get(article.article_id)
            if old and old.complete and old.content_hash == article.content_hash:
                report.unchanged += 1
                continue
            if old:
                remove_ids.extend(old.chunk_ids)
                report.updated += 1
            else:
                report.added += 1
            fresh.append(article)
        # Articles that were in a file read again but are no longer in it.
        seen = {a.article_id for a in articles}
        gone = [r for r in existing.values() if r.article_id not in seen]
        if prune:
            gone += [r for r in store.articles().values() if r.path not in loaded_paths and not os.path.exists(r.path)]
        for record in {r.article_id: r for r in gone}.values():
            remove_ids.extend(record.chunk_ids)
            report.removed += 1

        sizes = ChunkSizes(
            settings.chunk_target_tokens, settings.chunk_max_tokens, settings.chunk_min_tokens, settings.chunk_overlap_tokens
        )
        passages: list[Passage] = []
        n_passages: dict[str, int] = {}
        for article in fresh:
            chunks = chunk_article(article, sizes)
            n_passages[article.article_id] = len(chunks)
            passages.extend(chunks)
        report.chunks = len(passages)
        if not remove_ids and not passages:
            return report
        progress.on_embed_start(len(passages))
        texts = [embedding_text(p) for p in passages]
        if hasattr(embeddings, "embed_array"):
            vectors = embeddings.embed_array(texts, progress.on_embedded) if texts else []
        else:
            vectors = embeddings.embed_documents(texts, progress.on_embedded) if texts else []
        store.apply(sorted(set(remove_ids)), passages, vectors, n_passages)
    return report
