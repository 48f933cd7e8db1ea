"""Markdown: optional ``---`` front matter for metadata, the first level-1 heading as title."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import EmptyArticle
from .article import collapse, first_line, make_article, optional_str
from .dates import first_date
from .defences import ONLY_INJECTED, clean_title, without_injections
from .result import LoadResult

__all__ = ["load_markdown"]

_FRONT_MATTER_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def load_markdown(path: Path, resolved: str, text: str) -> LoadResult:
    meta, body = _split_front_matter(text)
    if not body.strip():
        raise EmptyArticle(str(path), "no text after the front matter")
    body = without_injections(body)
    if not body.strip():
        raise EmptyArticle(str(path), ONLY_INJECTED)
    title = clean_title(optional_str(meta.get("title"))) or _markdown_title(body)
    article = make_article(
        identity=resolved,
        resolved=resolved,
        title=title,
        text=body,
        fallback_source=path.name,
        url=optional_str(meta.get("url")),
        published=first_date([meta.get("date"), meta.get("published")]),
        author=optional_str(meta.get("author")),
    )
    return LoadResult([article])


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a ``---`` delimited block of ``key: value`` lines off the top.

    A Markdown file may also begin with a horizontal rule, so the block only counts when
    it is closed and holds at least one ``key: value`` line.
    """
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return {}, text
    meta: dict[str, str] = {}
    for index in range(1, len(lines)):
        line = lines[index]
        if line.rstrip() in ("---", "..."):
            if not meta:
                return {}, text
            body = "\n".join(lines[index + 1 :])
            # Blank lines between the block and the content are not part of the article.
            return meta, re.sub(r"\A(?:[ \t]*\n)+", "", body).rstrip()
        match = _FRONT_MATTER_KEY.match(line)
        if match:
            meta.setdefault(match.group(1).lower(), _unquote(match.group(2).strip()))
    return {}, text  # never closed: an ordinary rule, not front matter


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _markdown_title(body: str) -> str:
    """First level-1 heading outside code fences, else the first non-empty line."""
    in_fence = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence  # a "# comment" in a code block is not a heading
            continue
        match = None if in_fence else _ATX_HEADING.match(line)
        if match and len(match.group(1)) == 1 and match.group(2).strip():
            return collapse(match.group(2))
    first = first_line(body)
    match = _ATX_HEADING.match(first)
    return collapse(match.group(2)) if match and match.group(2).strip() else first
