"""PDF files, read by pypdf: one article per file, its pages kept.

The text of each page is pypdf's ``extract_text()``; pages are joined with a blank line,
and ``Article.pages`` records where each one starts, so a passage and a citation can say
"p. 3". The title is the document's own (its metadata), else its first line; the author
is the metadata's. A PDF that needs a password, or that has no text layer (a scan), is
one clear reason, not an empty article.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

from ..errors import EmptyArticle, LoaderError, MalformedFile
from .article import first_line, make_article, optional_str
from .decoding import normalise
from .defences import ONLY_INJECTED, clean_title, without_injections
from .result import LoadResult

__all__ = ["load_pdf", "read_pdf"]

# pypdf logs every oddity of a file it still reads (at WARNING): noise for a user.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_PAGE_SEPARATOR = "\n\n"
_NO_TEXT = "PDF has no text layer (a scanned document?): run OCR on it, then ingest the result"
_LOCKED = "PDF is encrypted and needs a password: save an unprotected copy, then ingest that"


def load_pdf(path: Path, resolved: str, data: bytes) -> LoadResult:
    return read_pdf(data, str(path), resolved, path.name)


def read_pdf(
    data: bytes, shown: str, resolved: str, fallback_source: str, url: str | None = None
) -> LoadResult:
    """The article of a PDF (``shown`` names it in errors; ``resolved`` is its identity:
    the absolute file, or the URL it was fetched from)."""
    reader = _open(shown, data)
    pages = _page_texts(shown, reader)
    text, starts = _join(pages)
    if not text.strip():
        if any(p.strip() for p in pages):  # there was text: all of it addressed to the model
            raise EmptyArticle(shown, ONLY_INJECTED)
        raise EmptyArticle(shown, _NO_TEXT)
    meta = _metadata(reader)
    article = make_article(
        identity=resolved,
        resolved=resolved,
        title=clean_title(optional_str(meta.get("/Title"))) or first_line(text),
        text=text,
        fallback_source=fallback_source,
        url=url,
        author=optional_str(meta.get("/Author")),
        pages=tuple(starts),
    )
    return LoadResult([article])


def _open(shown: str, data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        # Most "encrypted" PDFs only restrict printing or copying and open with an empty
        # password, as in any viewer; only one that needs a real password is refused.
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError(shown, _LOCKED)
        return reader
    except (FileNotDecryptedError, DependencyError):  # AES needs a crypto library we do not ship
        raise LoaderError(shown, _LOCKED) from None
    except LoaderError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        # pypdf reads damaged files leniently; what it still refuses is a damaged file.
        raise MalformedFile(shown, f"PDF could not be read ({type(exc).__name__})") from None


def _page_texts(shown: str, reader: PdfReader) -> list[str]:
    """Each page's text, normalised, with what is addressed to the model removed (page
    by page, so the page offsets stay true)."""
    texts = []
    try:
        for page in reader.pages:
            texts.append(without_injections(normalise(page.extract_text() or "")))
    except (FileNotDecryptedError, DependencyError):
        raise LoaderError(shown, _LOCKED) from None
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        raise MalformedFile(shown, f"PDF text could not be read ({type(exc).__name__})") from None
    return texts


def _join(pages: list[str]) -> tuple[str, list[int]]:
    """The pages' texts as one text, and where each page starts in it. A page without
    text takes no room: it starts where the next one does."""
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    for page in pages:
        if page.strip():
            if parts:
                parts.append(_PAGE_SEPARATOR)
                length += len(_PAGE_SEPARATOR)
            starts.append(length)
            parts.append(page)
            length += len(page)
        else:
            starts.append(length + (len(_PAGE_SEPARATOR) if parts else 0))
    return "".join(parts), starts


def _metadata(reader: PdfReader) -> dict:
    try:
        return dict(reader.metadata or {})
    except (PyPdfError, ValueError, KeyError, TypeError):
        return {}
