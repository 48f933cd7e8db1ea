"""What loading one file gives: its articles, and why individual records were skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Article

__all__ = ["LoadResult"]


@dataclass(frozen=True)
class LoadResult:
    """The articles of one file, plus why individual feed records were skipped."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)
