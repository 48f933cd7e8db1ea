"""Plain text: the file is the article, its first line the title."""

from __future__ import annotations

from pathlib import Path

from ..errors import EmptyArticle
from .article import first_line, make_article
from .defences import ONLY_INJECTED, without_injections
from .result import LoadResult

__all__ = ["load_txt"]


def load_txt(path: Path, resolved: str, text: str) -> LoadResult:
    text = without_injections(text)
    if not text.strip():
        raise EmptyArticle(str(path), ONLY_INJECTED)
    article = make_article(
        identity=resolved, resolved=resolved, title=first_line(text), text=text, fallback_source=path.name
    )
    return LoadResult([article])
