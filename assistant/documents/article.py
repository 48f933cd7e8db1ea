"""The one contract every reader meets: article fields cleaned, bounded and hashed the
same way, whatever the format."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from ..invisible import LAYOUT_CONTROLS
from ..models import Article
from .decoding import scrub_surrogates

__all__ = ["make_article", "revised", "collapse", "first_line", "optional_str", "shorten", "one_line"]


def collapse(value: str) -> str:
    """One line, single spaces: how titles and HTML blocks are shown."""
    return " ".join(value.split())


def first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return collapse(line)
    return ""


def optional_str(value: object) -> str | None:
    """A metadata value as a clean string, or None when absent, blank or not a string."""
    if not isinstance(value, str):
        return None
    value = collapse(LAYOUT_CONTROLS.sub("", scrub_surrogates(value)))
    return value or None


def hash16(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


_MAX_TITLE_CHARS = 300
_MAX_AUTHOR_CHARS = 200
_MAX_URL_CHARS = 2000


def shorten(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, at a space when one is near, with "…"."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def make_article(
    *,
    identity: str,
    resolved: str,
    title: str,
    text: str,
    fallback_source: str,
    url: str | None = None,
    published: str | None = None,
    author: str | None = None,
    site: str | None = None,
    summary_only: bool = False,
    pages: tuple[int, ...] = (),
) -> Article:
    # Every passage carries these fields: a 5 MB first line must not become a 5 MB title.
    title = shorten(title, _MAX_TITLE_CHARS)
    author = shorten(author, _MAX_AUTHOR_CHARS) if author else author
    site = shorten(site, _MAX_AUTHOR_CHARS) if site else None
    url = url if url is None or len(url) <= _MAX_URL_CHARS else None  # a cut url is a wrong one
    article = Article(
        article_id=hash16(identity),
        title=title,
        text=text,
        source=url or fallback_source,
        path=resolved,
        content_hash="",
        url=url,
        published=published,
        author=author,
        site=site,
        summary_only=summary_only,
        pages=tuple(pages),
    )
    return replace(article, content_hash=_content_hash(article))


def revised(article: Article, **changes) -> Article:
    """``article`` with some fields changed (a feed entry's text replaced by its page's),
    its content hash recomputed."""
    article = replace(article, **changes)
    return replace(article, content_hash=_content_hash(article))


def _content_hash(article: Article) -> str:
    """The hash covers everything a reader sees, so any edit marks the article as changed.
    The fields added later join it only when set, so an article that has none of them
    keeps its hash (and is not embedded again)."""
    a = article
    fields = [a.title, a.text, a.url or "", a.published or "", a.author or ""]
    if a.site or a.summary_only or a.pages:
        fields += [a.site or "", "summary" if a.summary_only else "", ",".join(map(str, a.pages))]
    return hash16("\x1f".join(fields))


def one_line(exc: BaseException) -> str:
    return first_line(str(exc)) or type(exc).__name__
