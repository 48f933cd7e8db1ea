"""Turn files on disk into :class:`~assistant.models.Article` objects.

One module per format, each meeting the same ``Article`` contract (``article``):

==========================  ====================================================
``.txt``                    ``text``: the file is the article
``.md`` ``.markdown``       ``markdown``: front matter for metadata
``.html`` ``.htm``          ``html``: trafilatura finds the article and its metadata
``.json`` ``.jsonl``        ``jsonfeed``: lists of article objects
``.xml`` ``.rss`` ``.atom`` ``feeds``: feedparser, one article per entry
``.pdf``                    ``pdf``: pypdf, pages kept
==========================  ====================================================

(URLs are fetched by ``assistant.fetch`` and read by the same readers: ``web``.) Every
loader produces the same canonical ``Article.text`` for the same bytes, because passage
offsets computed later index into that exact string.

Text a reader never sees is not article text: hidden HTML (comments, scripts,
``display:none`` and the like, elements a stylesheet hides: ``hidden``), invisible
characters (zero-width, bidi controls), and lines addressed to the AI model reading the
article rather than to its readers (prompt injection: "ignore previous instructions",
fake system or chat-template messages, fake passage delimiters and citation markers,
fake "Sources:" lists: ``defences``). They are removed before ``Article.text`` is fixed,
so passage offsets stay exact.

A file that cannot be used at all raises a :class:`~assistant.errors.LoaderError`
subclass whose message is the one line a user should read. A feed in which only some
records are bad still loads; the skipped records are listed in ``LoadResult.problems``.

Input limits, so memory and time stay bounded whatever the input:

- A file over ``MAX_FILE_BYTES`` (20 MB) is skipped unread: "too large (52.4 MB; the
  limit is 20 MB): split it into smaller files". Loading and chunking stay linear (50
  MB: 3-8 s to load, 0.3 GB, 0.5 GB for an HTML tree; ~15 s to chunk), but ingest embeds
  an article's passages as one batch, and a 50 MB article is some 72,000 passages: it
  ran 26 minutes at 1.6 GB without storing anything. News articles and feeds are far
  below the limit.
- Titles and bylines are cut to a few hundred characters (a 5 MB first line is not a
  title, and every passage carries both), and an absurdly long url is dropped.
- Deeply nested HTML (100,000 unclosed tags): libxml2 stops at 2,048 levels, so such a
  page is rebuilt nested at most 512 deep, as browsers do (``htmltree``); every walk is
  iterative, and a RecursionError from a library is reported as a malformed file.
- Bytes are decoded leniently (``decoding``): UTF-8, UTF-16 with or without a BOM, a
  file mixing UTF-8 and cp1252 lines decodes line by line, and NUL (raw in a file:
  binary; escaped in JSON as ``\u0000``) never reaches ``Article.text``. Feeds and PDFs
  are read from their bytes by their libraries.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import EmptyArticle, LoaderError, UnsupportedFile
from .decoding import decode, normalise
from .discovery import SUPPORTED_SUFFIXES, discover, unsupported_reason
from .feeds import load_feed
from .html import load_html
from .jsonfeed import load_json, load_jsonl
from .markdown import load_markdown
from .pdf import load_pdf
from .result import LoadResult
from .text import load_txt

__all__ = ["SUPPORTED_SUFFIXES", "LoadResult", "load_file", "discover"]

# Larger files are skipped with a clear reason (see the module docstring).
MAX_FILE_BYTES = 20_000_000

_LOADERS = {
    ".txt": load_txt,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".json": load_json,
    ".jsonl": load_jsonl,
}
# Formats read from their bytes: the library finds the encoding (XML declaration) or there
# is no text encoding at all (PDF).
_BYTE_LOADERS = {".xml": load_feed, ".rss": load_feed, ".atom": load_feed, ".pdf": load_pdf}


def load_file(path: Path) -> LoadResult:
    """Load one file into articles, or raise a ``LoaderError`` saying why it cannot be."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(str(path), unsupported_reason(path))
    data = _read_bytes(path)
    if suffix in _BYTE_LOADERS:
        if not data.strip():
            raise EmptyArticle(str(path), "empty file" if not data else "file contains only whitespace")
        return _BYTE_LOADERS[suffix](path, _resolve(path), data)
    text = normalise(decode(path, data))
    if not text.strip():
        raise EmptyArticle(str(path), "empty file" if not data else "file contains only whitespace")
    resolved = _resolve(path)
    return _LOADERS[suffix](path, resolved, text)


def _read_bytes(path: Path) -> bytes:
    try:
        # Refuse fifos and devices before opening them: reading one could block forever.
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise LoaderError(str(path), "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise LoaderError(str(path), "not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise LoaderError(str(path), _too_large(info.st_size))
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more, even if the file grew
            if len(data) > MAX_FILE_BYTES:
                raise LoaderError(str(path), _too_large(os.fstat(handle.fileno()).st_size))
        return data
    except OSError as exc:
        raise LoaderError(str(path), exc.strerror or str(exc)) from None
    except ValueError:  # a NUL character in the name
        raise LoaderError(str(path), "invalid path") from None


def _too_large(size: int) -> str:
    return (
        f"too large ({size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB): "
        "split it into smaller files"
    )


def _resolve(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError) as exc:
        raise LoaderError(str(path), f"cannot resolve path ({exc})") from None
