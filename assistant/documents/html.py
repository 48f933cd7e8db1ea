"""HTML pages: the article body and its metadata, read by trafilatura.

trafilatura (the field's reference extractor, with htmldate for dates) finds the article
in a page and leaves out menus, related links, captions and footers; it also gives the
title, author, site name, canonical URL and publication date. What is written here:

- parsing to an lxml tree (``htmltree``: libxml2, and a rebuild for nesting it refuses);
- removing what a reader never sees before trafilatura reads the page (``hidden``);
- pruning page furniture and embedded data (``_PRUNED``) so that trafilatura's own
  fallbacks, which take the whole page or JSON-LD text when the article is short, never
  bring in menus or text no reader sees;
- a plain walk over the visible text (``_visible_lines``), used only when trafilatura
  finds no text at all (a fragment, a near-empty page), so no page is lost;
- the prompt-injection filter on the text, as for every format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.metadata import extract_metadata

from ..errors import EmptyArticle, MalformedFile
from ..invisible import LAYOUT_CONTROLS
from ..models import Article
from .article import collapse, first_line, make_article, optional_str
from .dates import first_date
from .decoding import normalise
from .defences import ONLY_INJECTED, clean_title, without_injections
from .hidden import remove_hidden
from .htmltree import HtmlUnreadable, parse_html
from .result import LoadResult

__all__ = ["load_html", "html_to_text", "fragment_to_text", "page_article", "PageMeta"]

# trafilatura logs every page it finds too short at WARNING: noise for a user.
logging.getLogger("trafilatura").setLevel(logging.ERROR)
logging.getLogger("htmldate").setLevel(logging.ERROR)

# Never article text: navigation and site furniture, controls, embedded code and data
# (JSON-LD can hold a whole "articleBody" no reader sees). A <form> only when it holds no
# paragraph: some sites (ASP.NET) put the whole page in one.
_FURNITURE = (
    "nav", "aside", "footer", "noscript", "script", "style", "template", "iframe", "svg", "button",
    "select", "textarea", "canvas", "object", "embed", "audio", "video", "dialog", "menu",
)  # fmt: skip
_PRUNED = [f"//{tag}" for tag in _FURNITURE] + [
    "//header[not(ancestor::article) and not(ancestor::main)]",
    "//form[not(.//p)]",
]
_PRUNE = etree.XPath(" | ".join(_PRUNED))
# Block elements: each starts a line of its own in the fallback walk.
_BLOCKS = frozenset(
    "address article blockquote caption dd details div dl dt fieldset figcaption figure h1 h2 h3 h4 h5 h6 "
    "header hr li main ol p pre section summary table tbody td tfoot th thead tr ul body html center".split()
)


@dataclass
class PageMeta:
    """What trafilatura read about a page besides its text."""

    title: str | None = None
    author: str | None = None
    site: str | None = None
    url: str | None = None
    published: str | None = None

    @classmethod
    def of(cls, document) -> "PageMeta":
        return cls(
            title=optional_str(document.title),
            author=optional_str(document.author),
            site=optional_str(document.sitename),
            url=optional_str(document.url),
            published=first_date([document.date]),
        )


def html_to_text(text: str, url: str | None = None) -> tuple[str, PageMeta]:
    """The article text of a page (normalised, before the injection filter) and its
    metadata. Raises ``HtmlUnreadable`` when the markup holds no element at all."""
    root = parse_html(text)
    remove_hidden(root)
    document = _extract(root, url)
    body = _tidy(document.text or "") if document is not None else ""
    if document is None:
        document = extract_metadata(root, default_url=url)
    if not body:
        body = _tidy("\n".join(_visible_lines(root)))
    return body, PageMeta.of(document)


def fragment_to_text(markup: str) -> str:
    """All the visible text of a piece of HTML (a feed entry), one block per line: there
    is no page around it to leave out, so trafilatura is not asked."""
    root = parse_html(markup)
    remove_hidden(root)
    return _tidy("\n".join(_visible_lines(root)))


def _tidy(text: str) -> str:
    """One block per line with single spaces, as the page reads (HTML collapses runs of
    white space; trafilatura keeps them, no-break spaces included)."""
    return normalise("\n".join(collapse(line) for line in text.split("\n") if line.strip()))


def _extract(root: HtmlElement, url: str | None):
    """trafilatura's article, or None when it finds none. Its defaults, except: no reader
    comments (they are not the article) and no fallback to pruned furniture."""
    try:
        return trafilatura.bare_extraction(
            root,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_images=False,
            prune_xpath=_PRUNED,
        )
    except RecursionError:
        return None


def load_html(path: Path, resolved: str, text: str) -> LoadResult:
    try:
        body, meta = html_to_text(text)
    except HtmlUnreadable:
        raise EmptyArticle(str(path), "no text after HTML cleaning") from None
    except RecursionError as exc:
        raise MalformedFile(str(path), f"HTML could not be parsed ({type(exc).__name__})") from None
    article = page_article(
        path.name, resolved, resolved, body, meta, lambda reason: EmptyArticle(str(path), reason)
    )
    return LoadResult([article])


def page_article(
    fallback_source: str, identity: str, resolved: str, body: str, meta: PageMeta, error
) -> Article:
    """The article of one page: ``body`` through the injection filter, metadata cleaned.
    ``error(reason)`` builds the exception raised when nothing is left."""
    if not body:
        raise error("no text after HTML cleaning")
    body = without_injections(body)
    if not body:
        raise error(ONLY_INJECTED)
    return make_article(
        identity=identity,
        resolved=resolved,
        title=clean_title(meta.title) or first_line(body),
        text=body,
        fallback_source=fallback_source,
        url=meta.url,
        published=meta.published,
        author=meta.author,
        site=clean_title(meta.site),
    )


def _visible_lines(root: HtmlElement) -> list[str]:
    """Every visible text of the page, one line per block, furniture left out: the walk
    used when trafilatura finds nothing. Iterative (lxml's iterwalk), so depth costs no
    recursion."""
    for element in _PRUNE(root):
        if element.getparent() is not None:
            element.drop_tree()
    body = root.find("body")
    lines: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        line = collapse(LAYOUT_CONTROLS.sub("", "".join(parts)))
        parts.clear()
        if line:
            lines.append(line)

    for event, element in etree.iterwalk(body if body is not None else root, events=("start", "end")):
        if not isinstance(element.tag, str):
            continue
        if event == "start":
            if element.tag in _BLOCKS:
                flush()
            elif element.tag == "br":
                parts.append(" ")
            parts.append(element.text or "")
        else:
            if element.tag in _BLOCKS:
                flush()
            parts.append(element.tail or "")
    flush()
    return lines
