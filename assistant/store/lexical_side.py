"""The BM25 side of the store: a :class:`LexicalIndex` kept on disk beside the index (or
in the user's cache, for a Chroma server), stamped with the revision it reflects.

It is loaded once, and rebuilt from Chroma's passages only when its revision is not
Chroma's (a crash mid-write, another machine's ingest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ..errors import IndexError_
from ..lexical import LexicalIndex

__all__ = ["LexicalSide"]


class LexicalSide:
    def __init__(self, folder: Path):
        self.folder = folder
        self._loaded: LexicalIndex | None = None

    def current(self, revision: str, rebuild: Callable[[], LexicalIndex]) -> LexicalIndex:
        """The index as loaded; on first use loaded from disk, or from ``rebuild`` when the
        one on disk does not reflect ``revision``."""
        lexical = self._loaded  # read once: a catch-up on another thread may forget it
        if lexical is None:
            lexical = LexicalIndex.load(self.folder)
            if lexical is None or lexical.revision != revision:
                lexical = rebuild()
            self._loaded = lexical
        return lexical

    def forget(self) -> None:
        """The index changed: load (or rebuild) at the next use."""
        self._loaded = None

    @staticmethod
    def build(batches: Iterable[dict]) -> LexicalIndex:
        """A new index of Chroma's rows (pages with documents and metadata)."""
        lexical = LexicalIndex()
        for batch in batches:
            lexical.add(
                batch["ids"],
                batch["documents"],
                [m["source"] for m in batch["metadatas"]],
                [int(m.get("published_day", 0)) for m in batch["metadatas"]],
            )
        return lexical

    def save(self, lexical: LexicalIndex, revision: str) -> None:
        try:
            lexical.save(self.folder, revision)
        except OSError as exc:
            raise IndexError_(
                f"cannot write the lexical index at {self.folder}: {exc.strerror or exc}"
            ) from None
