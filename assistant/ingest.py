"""Ingest: files and URLs -> articles -> passages -> vectors -> store, incrementally.

An article whose content hash is already fully in the store is left alone (nothing is
re-embedded); a changed one has its old passages replaced; articles that vanished from a
file that was read again are removed, and with ``prune`` so are articles whose file is
gone. Passage ids are derived from article id, content hash and position, so they are
stable across runs.

Writes go in batches of whole articles, so killing a run (SIGKILL included) loses only
the batch in progress: the next run finds what is already stored and embeds the rest.
One writer at a time: a second ingest into the same index is refused.

A URL is fetched only when named (``assistant ingest https://...``): see ``remote``. Its
articles have the URL as their path; ``prune`` never removes them (there is no file
whose absence would say they are gone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .chunking import ChunkSizes, chunk_article
from .config import Settings
from .documents import discover, load_file
from .embeddings import make_embeddings, model_id_for
from .errors import LoaderError
from .fetch import Fetcher, is_url
from .models import Article, IngestReport, Passage, SkippedFile
from .remote import UrlLoad, load_urls, save_state
from .store import PassageStore

__all__ = ["ingest", "IngestProgress", "embedding_text", "BATCH_PASSAGES"]

# Passages embedded, then written, together. A killed run loses at most the batch in
# progress; each write also saves the lexical index, so much smaller costs throughput.
BATCH_PASSAGES = 256


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


def _load_all(
    paths: list[Path], report: IngestReport, progress: IngestProgress, n_urls: int = 0
) -> list[Article]:
    files, problems = discover(paths) if paths else ([], [])
    for path, reason in problems:
        if reason.startswith("no such file"):
            report.missing_paths.append(path)
        report.skipped.append(SkippedFile(path, reason))
    progress.on_files(len(files) + n_urls)
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


@dataclass
class _Work:
    """One article's share of a run: passages to embed and write, ids to delete."""

    article_id: str
    n_passages: int
    embed: list[Passage]
    stale: list[str]


def _plan(
    store: PassageStore,
    articles: list[Article],
    prune: bool,
    sizes: ChunkSizes,
    report: IngestReport,
    urls=None,
):
    """Decide what each article needs. Returns (ids to delete outright, per-article work)."""
    urls = urls or UrlLoad()
    loaded_paths = sorted({a.path for a in articles} | urls.read_paths)
    existing = store.articles(loaded_paths)
    # A URL that answered "not modified", and feed entries whose page need not be fetched
    # again: what the index holds of them is unchanged.
    report.unchanged += len(store.articles(urls.not_modified)) if urls.not_modified else 0
    report.unchanged += sum(1 for aid in urls.kept_ids if aid in existing)
    removals: list[str] = []
    work: list[_Work] = []
    for article in articles:
        old = existing.get(article.article_id)
        if old and old.complete and old.content_hash == article.content_hash:
            report.unchanged += 1
            continue
        if old:
            report.updated += 1
        else:
            report.added += 1
        work.append(_article_work(store, article, old, sizes))
    # Articles that were in a file (or at a URL) read again but are no longer in it.
    seen = {a.article_id for a in articles} | urls.kept_ids
    gone = [r for r in existing.values() if r.article_id not in seen]
    if prune:
        gone += [
            r for r in store.articles().values()
            if r.path not in loaded_paths and not is_url(r.path) and not os.path.exists(r.path)
        ]  # fmt: skip
    for record in {r.article_id: r for r in gone}.values():
        removals.extend(record.chunk_ids)
        report.removed += 1
    return removals, work


def _article_work(store: PassageStore, article: Article, old, sizes: ChunkSizes) -> _Work:
    """What a new or changed article needs: its passages not already stored as they are now,
    and its old passages this version no longer has."""
    chunks = chunk_article(article, sizes)
    wanted = {c.chunk_id for c in chunks}
    stale = [c for c in old.chunk_ids if c not in wanted] if old else []
    # Passages of this very version already stored (a run killed part way through
    # an update, or between adding and deleting) are kept, not embedded again.
    present = store.stored_passages(sorted(wanted & set(old.chunk_ids))) if old else {}

    def stored_as_is(chunk) -> bool:
        kept = present.get(chunk.chunk_id)
        return (
            bool(kept)
            and kept[1] == len(chunks)
            and (kept[0].text, kept[0].start, kept[0].end)
            == (
                chunk.text,
                chunk.start,
                chunk.end,
            )
        )

    embed = [chunk for chunk in chunks if not stored_as_is(chunk)]
    return _Work(article.article_id, len(chunks), embed, stale)


def _batches(work: list[_Work], size: int) -> Iterator[list[_Work]]:
    """Whole articles, about ``size`` passages to embed per batch."""
    batch: list[_Work] = []
    pending = 0
    for item in work:
        batch.append(item)
        pending += len(item.embed)
        if pending >= size:
            yield batch
            batch, pending = [], 0
    if batch:
        yield batch


def ingest(
    paths: list[Path | str],
    settings: Settings,
    *,
    prune: bool = False,
    progress: IngestProgress | None = None,
    embeddings=None,
    fetcher=None,
) -> IngestReport:
    """Bring the index in step with ``paths`` (files, folders, and http(s) URLs as str).

    Work is written in batches of whole articles (about ``BATCH_PASSAGES`` passages
    embedded per batch), each one a complete store write (Chroma, then the lexical side),
    so a run killed at any point keeps every batch it finished and the next run embeds
    only what is still missing."""
    progress = progress or IngestProgress()
    report = IngestReport()
    urls = list(dict.fromkeys(str(p) for p in paths if is_url(p)))
    articles = _load_all([Path(p) for p in paths if not is_url(p)], report, progress, len(urls))
    if not articles and not prune and not urls:
        return report
    embeddings = embeddings or make_embeddings(settings)
    sizes = ChunkSizes(
        settings.chunk_target_tokens,
        settings.chunk_max_tokens,
        settings.chunk_min_tokens,
        settings.chunk_overlap_tokens,
    )
    model_id = getattr(embeddings, "model_id", model_id_for(settings))
    with PassageStore.open_for_writing(settings, model_id) as store:
        fetched = _fetch(urls, store, settings, fetcher, report, progress) if urls else None
        if fetched:
            articles = list({a.article_id: a for a in [*articles, *fetched.articles]}.values())
        removals, work = _plan(store, articles, prune, sizes, report, fetched)
        report.chunks = sum(len(w.embed) for w in work)
        # Deletions and clean-ups that need no embedding go first, in one write.
        cleanup = removals + [c for w in work if not w.embed for c in w.stale]
        if cleanup:
            store.apply(cleanup, [], [], {})
        work = [w for w in work if w.embed]
        if work:
            progress.on_embed_start(report.chunks)
        for batch in _batches(work, BATCH_PASSAGES):
            passages = [p for w in batch for p in w.embed]
            texts = [embedding_text(p) for p in passages]
            if hasattr(embeddings, "embed_array"):
                vectors = embeddings.embed_array(texts, progress.on_embedded)
            else:
                vectors = embeddings.embed_documents(texts, progress.on_embedded)
            stale = [c for w in batch for c in w.stale]
            store.apply(stale, passages, vectors, {w.article_id: w.n_passages for w in batch})
        if fetched:  # only now that the index holds what they answered
            save_state(store, fetched.state)
    return report


def _fetch(
    urls: list[str], store, settings: Settings, fetcher, report: IngestReport, progress: IngestProgress
):
    own = fetcher is None
    fetcher = fetcher or Fetcher(timeout_s=settings.request_timeout_s)
    try:
        return load_urls(urls, store, fetcher, report, progress.on_file_done)
    finally:
        if own:
            fetcher.close()
