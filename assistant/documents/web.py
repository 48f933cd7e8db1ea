"""What a URL gave (``assistant.fetch.Fetched``) -> articles, by the same readers as files.

An article read from a URL has that URL (as the user named it) for identity and path, so
re-ingesting it updates it in place; its ``url`` and ``source`` are the page's canonical
URL when it names one, else the URL the server finally answered from.
"""

from __future__ import annotations

from ..errors import BinaryFile, EmptyArticle, LoaderError
from ..models import Article
from .article import revised
from .decoding import decode, normalise
from .defences import ONLY_INJECTED, without_injections
from .feeds import parse_feed
from .html import html_to_text, page_article
from .htmltree import HtmlUnreadable
from .pdf import read_pdf
from .result import LoadResult

__all__ = ["load_fetched", "entry_with_page"]


def load_fetched(fetched) -> LoadResult:
    """The articles of a fetched page, feed or PDF, or a ``LoaderError`` saying why not."""
    url, final = fetched.url, fetched.final_url
    if fetched.kind == "pdf":
        return read_pdf(fetched.data, url, url, final, url=final)
    if fetched.kind == "feed":
        headers = {"content-type": f"application/xml; charset={fetched.charset}"} if fetched.charset else {}
        return parse_feed(fetched.data, url, url, final, headers)
    body, meta = _page_text(fetched)
    meta.url = meta.url or final
    return LoadResult([page_article(final, url, url, body, meta, lambda reason: EmptyArticle(url, reason))])


def entry_with_page(entry: Article, fetched) -> Article:
    """A feed entry that held only its summary, with the text of its page instead. The
    entry keeps its identity, title, link and date (the feed's); the page fills in what
    the entry lacks. Raises ``LoaderError`` when the page gives no article text."""
    if fetched.kind != "html":
        raise LoaderError(fetched.url, f"the entry's page is a {fetched.kind}, not a web page")
    body, meta = _page_text(fetched)
    if not body:
        raise EmptyArticle(fetched.url, "no text after HTML cleaning")
    body = without_injections(body)
    if not body:
        raise EmptyArticle(fetched.url, ONLY_INJECTED)
    return revised(
        entry,
        text=body,
        summary_only=False,
        author=entry.author or meta.author,
        published=entry.published or meta.published,
        site=entry.site or meta.site,
    )


def _page_text(fetched):
    try:
        return html_to_text(_decoded(fetched), url=fetched.final_url)
    except HtmlUnreadable:
        raise EmptyArticle(fetched.url, "no text after HTML cleaning") from None
    except RecursionError:
        raise LoaderError(fetched.url, "HTML could not be parsed (RecursionError)") from None


def _decoded(fetched) -> str:
    """The page as text: by the charset the server declared when it has one that fits the
    bytes, else as a file's bytes are decoded (UTF-8, UTF-16, cp1252 line by line)."""
    if fetched.charset:
        try:
            text = fetched.data.decode(fetched.charset)
        except (LookupError, UnicodeDecodeError):
            pass
        else:
            if "\x00" in text:
                raise BinaryFile(fetched.url, "binary content, not text")
            return normalise(text)
    return normalise(decode(fetched.url, fetched.data))
