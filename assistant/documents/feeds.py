"""RSS and Atom feeds, read by feedparser: one article per entry.

Each entry gives its title, link, date, author and text: its full content when the feed
carries it (``content:encoded``, Atom ``<content>``), else its summary
(``<description>``, Atom ``<summary>``), and then the article says so
(``summary_only``): ``assistant index stats`` counts them, and ingesting the feed by URL
fetches those entries' pages instead. Entry HTML goes through the same hidden-element
removal as a page (feedparser's own sanitiser is off: it drops the ``hidden`` and
``aria-hidden`` attributes, which would bring hidden text into view), then the visible
text is taken whole: an entry has no page furniture to leave out.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import feedparser

from ..errors import MalformedFile
from ..models import Article
from .article import first_line, make_article, optional_str
from .dates import first_date
from .decoding import normalise
from .defences import ONLY_INJECTED, clean_title, without_injections
from .html import fragment_to_text
from .htmltree import HtmlUnreadable
from .jsonfeed import unique_identity
from .result import LoadResult

__all__ = ["load_feed", "parse_feed", "FEED_SUFFIXES"]

FEED_SUFFIXES = (".xml", ".rss", ".atom")
logging.getLogger("feedparser").setLevel(logging.ERROR)


class _Entry(NamedTuple):
    title: str
    text: str
    url: str | None
    published: str | None
    author: str | None
    summary_only: bool


def load_feed(path: Path, resolved: str, data: bytes) -> LoadResult:
    return parse_feed(data, str(path), resolved, path.name)


def parse_feed(
    data: bytes, shown: str, resolved: str, fallback_source: str, headers: dict | None = None
) -> LoadResult:
    """The entries of a feed as articles (``shown`` names it in errors; ``resolved`` is
    its identity: the absolute file, or the URL)."""
    parsed = feedparser.parse(
        data, response_headers=headers or {}, sanitize_html=False, resolve_relative_uris=False
    )
    if not parsed.get("version") and not parsed.entries:
        why = type(parsed.get("bozo_exception")).__name__ if parsed.get("bozo") else "no feed elements"
        raise MalformedFile(shown, f"not an RSS or Atom feed ({why})")
    site = clean_title(optional_str(parsed.feed.get("title")))
    articles: list[Article] = []
    problems: list[str] = []
    used: set[str] = set()
    for number, entry in enumerate(parsed.entries, start=1):
        item = _entry(entry)
        if isinstance(item, str):
            problems.append(f"entry {number}: {item}")
            continue
        identity = unique_identity(f"{resolved}#{item.url or item.title}", used)
        articles.append(
            make_article(
                identity=identity,
                resolved=resolved,
                title=item.title,
                text=item.text,
                fallback_source=fallback_source,
                url=item.url,
                published=item.published,
                author=item.author,
                site=site,
                summary_only=item.summary_only,
            )
        )
    if not articles:
        raise MalformedFile(shown, problems[0] if problems else "no entries in feed")
    return LoadResult(articles, problems)


def _entry(entry) -> _Entry | str:
    """An entry as article fields, or the reason it cannot be one."""
    content = [c for c in entry.get("content") or [] if (c.get("value") or "").strip()]
    summary_only = not content
    detail = content[0] if content else entry.get("summary_detail") or {"value": entry.get("summary") or ""}
    raw = detail.get("value") or ""
    if not raw.strip():
        return "no content or summary"
    text = without_injections(_text_of(raw, detail.get("type") or ""))
    if not text.strip():
        return ONLY_INJECTED if raw.strip() else "no content or summary"
    return _Entry(
        title=clean_title(optional_str(entry.get("title"))) or first_line(text),
        text=text,
        url=optional_str(entry.get("link")),
        # dict.get: feedparser's own get() maps a missing "updated" to "published" with a warning
        published=first_date([dict.get(entry, key) for key in ("published", "updated", "created")]),
        author=optional_str(entry.get("author")),
        summary_only=summary_only,
    )


def _text_of(value: str, kind: str) -> str:
    if kind == "text/plain" or "<" not in value:
        return normalise(value)
    try:
        return fragment_to_text(value)
    except HtmlUnreadable:
        return ""
