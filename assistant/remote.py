"""The URLs named to ``assistant ingest``: fetched, read, and what is unchanged told apart.

For each URL, what the last successful fetch answered (``ETag``, ``Last-Modified``) is
kept in ``fetched.json`` beside the index's lexical side, and sent back on the next
ingest, but only while the index still holds every article that URL gave: a "304 Not
Modified" then leaves them as they are, with nothing fetched or embedded. A feed's
entries that hold only a summary have their pages fetched; an entry whose summary has
not changed since its page was fetched keeps its stored article without another fetch.
The state is written after the index, so a killed run can only make the next one fetch
again, never trust a page it did not store.

Failures never cost what is stored: a URL that cannot be fetched is one skipped line,
and its articles in the index stay.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .documents.web import entry_with_page, load_fetched
from .errors import LoaderError
from .fetch import Fetched, Fetcher
from .models import Article, IngestReport, SkippedFile

__all__ = ["UrlLoad", "load_urls", "save_state", "MAX_ENTRY_PAGES", "STATE_FILE"]

STATE_FILE = "fetched.json"
# Pages fetched per feed at most, for entries that hold only a summary (the others stay
# summaries, and say so).
MAX_ENTRY_PAGES = 50


@dataclass
class UrlLoad:
    """What the URLs gave an ingest run."""

    articles: list[Article] = field(default_factory=list)  # to store (added, updated or unchanged)
    read_paths: set[str] = field(default_factory=set)  # URLs read in full: their other stored articles go
    kept_ids: set[str] = field(default_factory=set)  # stored articles known unchanged without a fetch
    not_modified: list[str] = field(default_factory=list)  # URLs that answered 304
    state: dict = field(default_factory=dict)  # fetched.json after this run


def load_urls(
    urls: list[str], store, fetcher: Fetcher, report: IngestReport, on_done=lambda url: None
) -> UrlLoad:
    state_path = store.state_path(STATE_FILE)
    state = _read_state(state_path)
    result = UrlLoad(state=dict(state))
    stored = store.articles(urls) if urls else {}
    for url in urls:
        mine = {aid: r for aid, r in stored.items() if r.path == url}
        known = state.get(url, {}) if mine and all(r.complete for r in mine.values()) else {}
        try:
            fetched = fetcher.get(url, known.get("etag"), known.get("last_modified"))
            if fetched.not_modified:
                result.not_modified.append(url)
            else:
                _read(url, fetched, known, mine, fetcher, result, report)
        except LoaderError as exc:
            report.skipped.append(SkippedFile(url, exc.reason))
        on_done(url)
    return result


def _read(
    url: str, fetched: Fetched, known: dict, mine: dict, fetcher: Fetcher, result: UrlLoad, report
) -> None:
    loaded = load_fetched(fetched)
    report.skipped.extend(SkippedFile(url, problem) for problem in loaded.problems)
    entries: dict[str, str] = {}
    fetched_pages = left_as_summaries = 0
    for article in loaded.articles:
        if not (fetched.kind == "feed" and article.summary_only and article.url):
            result.articles.append(article)
            continue
        record = mine.get(article.article_id)
        if (
            known.get("entries", {}).get(article.article_id) == article.content_hash
            and record
            and record.complete
        ):
            result.kept_ids.add(article.article_id)  # its summary is as when its page was fetched
            entries[article.article_id] = article.content_hash
            continue
        if fetched_pages >= MAX_ENTRY_PAGES:
            result.articles.append(article)
            left_as_summaries += 1
            continue
        fetched_pages += 1
        try:
            result.articles.append(entry_with_page(article, fetcher.get(article.url)))
            entries[article.article_id] = article.content_hash
        except LoaderError as exc:
            result.articles.append(article)
            why = f"entry '{article.title[:60]}': page {article.url}: {exc.reason}; its summary was ingested"
            report.skipped.append(SkippedFile(url, why))
    if left_as_summaries:
        why = (
            f"{left_as_summaries} more entries were ingested as their summaries "
            f"(at most {MAX_ENTRY_PAGES} pages are fetched per feed)"
        )
        report.skipped.append(SkippedFile(url, why))
    result.read_paths.add(url)
    result.state[url] = {"etag": fetched.etag, "last_modified": fetched.last_modified, "entries": entries}


def _read_state(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or damaged: everything is fetched in full, which is always right
    return data if isinstance(data, dict) else {}


def save_state(store, state: dict) -> None:
    path = store.state_path(STATE_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
