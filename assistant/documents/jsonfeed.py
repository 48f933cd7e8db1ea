"""JSON and JSON Lines feeds: a list of article objects (or an object holding one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from ..errors import MalformedFile
from ..models import Article
from .article import first_line, make_article, one_line, optional_str
from .dates import first_date
from .decoding import normalise
from .defences import ONLY_INJECTED, clean_title, without_injections
from .result import LoadResult

__all__ = ["load_json", "load_jsonl", "unique_identity"]


class _Record(NamedTuple):
    label: str  # "item 3" or "line 7": how a problem with it is reported
    value: object


def load_json(path: Path, resolved: str, text: str) -> LoadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedFile(
            str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, deep nesting
        raise MalformedFile(str(path), f"invalid JSON: {one_line(exc)}") from None
    return _build_feed(path, resolved, _json_records(path, data), [])


def _json_records(path: Path, data: object) -> list[_Record]:
    if isinstance(data, dict):
        data = _feed_list(path, data)
    if not isinstance(data, list):
        raise MalformedFile(str(path), "expected an article object or a list of them")
    return [_Record(f"item {n}", value) for n, value in enumerate(data, start=1)]


def _feed_list(path: Path, data: dict) -> list:
    """The article list of a feed object; a lone article object is a feed of one."""
    for key in ("articles", "items"):
        if isinstance(data.get(key), list):
            return data[key]
    for key in ("articles", "items"):
        # An article may carry its own "items" field; only complain when it is no article.
        if key in data and "text" not in data and "content" not in data:
            raise MalformedFile(str(path), f"'{key}' must be a list of article objects")
    return [data]


def load_jsonl(path: Path, resolved: str, text: str) -> LoadResult:
    records: list[_Record] = []
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_Record(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON ({exc.msg})")
        except (ValueError, RecursionError) as exc:
            problems.append(f"line {number}: invalid JSON ({one_line(exc)})")
    return _build_feed(path, resolved, records, problems)


class _FeedItem(NamedTuple):
    title: str
    text: str
    url: str | None
    published: str | None
    author: str | None


def _build_feed(path: Path, resolved: str, records: list[_Record], problems: list[str]) -> LoadResult:
    articles: list[Article] = []
    used_ids: set[str] = set()
    for record in records:
        item = _feed_item(record.value)
        if isinstance(item, str):
            problems.append(f"{record.label}: {item}")
            continue
        identity = unique_identity(f"{resolved}#{item.url or item.title}", used_ids)
        articles.append(
            make_article(
                identity=identity,
                resolved=resolved,
                title=item.title,
                text=item.text,
                fallback_source=path.name,
                url=item.url,
                published=item.published,
                author=item.author,
            )
        )
    if not articles:
        raise MalformedFile(str(path), problems[0] if problems else "no articles in feed")
    return LoadResult(articles, problems)


def unique_identity(base: str, used: set[str]) -> str:
    # Repeats get "#2", "#3"... in feed order, so ids stay stable while the feed does.
    identity, n = base, 1
    while identity in used:
        n += 1
        identity = f"{base}#{n}"
    used.add(identity)
    return identity


def _feed_item(value: object) -> _FeedItem | str:
    """A feed record as article fields, or the reason it cannot be one."""
    if not isinstance(value, dict):
        return "not a JSON object"
    raw = value.get("text")
    if not (isinstance(raw, str) and raw.strip()):
        raw = value.get("content")
    if not (isinstance(raw, str) and raw.strip()):
        return "no 'text' or 'content'"
    text = without_injections(normalise(raw))
    if not text.strip():
        return ONLY_INJECTED
    return _FeedItem(
        title=clean_title(optional_str(value.get("title"))) or first_line(text),
        text=text,
        url=optional_str(value.get("url")),
        published=first_date([value.get("published"), value.get("date")]),
        author=optional_str(value.get("author")),
    )
