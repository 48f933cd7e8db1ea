"""Where passages live: a Chroma collection (local folder or server) for the vectors and
the texts, plus the BM25 side kept beside it. :class:`PassageStore` is the one door to
both, with reads and writes that keep them at one revision.

The Chroma collection is the source of truth. Its metadata records the embedding model
that built it (opening it with another one is an error) and a ``revision`` that changes
with every write; the lexical index stores the revision it reflects, and is rebuilt
from Chroma only when the two disagree (a crash mid-write, another machine's ingest).
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..config import Settings
from ..lexical import LexicalIndex
from ..models import Passage
from .chroma import WRITING, ChromaIndex
from .folder import IndexFolder
from .lexical_side import LexicalSide
from .records import ArticleRecord, article_records, metadata_of, passage_from_record, published_day

__all__ = ["PassageStore"]

# Most values in one `$in` filter: SQLite limits the variables of a statement.
_IN_LIMIT = 500


class PassageStore:
    """Open with :meth:`open`; ``create=True`` makes a new index where there is none."""

    def __init__(self, folder: IndexFolder, chroma: ChromaIndex):
        self.settings = folder.settings
        self.model_id = chroma.model_id
        self.folder = folder
        self._chroma = chroma
        self._lexical_side = LexicalSide(folder.lexical_dir)

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, model_id: str, *, create: bool = False) -> "PassageStore":
        folder = IndexFolder(settings)
        return cls(folder, ChromaIndex.open(folder, model_id, create))

    @classmethod
    @contextmanager
    def open_for_writing(cls, settings: Settings, model_id: str) -> Iterator["PassageStore"]:
        """Open, creating the index if there is none, holding the write lock throughout:
        one writer per index, a second one is refused. A foreign or damaged folder is
        refused before anything (the lock file included) is written into it."""
        folder = IndexFolder(settings)
        if not settings.uses_server:
            folder.check_unless_being_written(create=True)
        with folder.exclusive():
            yield cls(folder, ChromaIndex.open(folder, model_id, create=True))

    # -- reading ----------------------------------------------------------------------
    @property
    def revision(self) -> str:
        return self._chroma.revision

    def count(self) -> int:
        return self._chroma.count()

    def catch_up(self) -> None:
        """See what other processes wrote since this store was opened: an ingest in another
        terminal while a chat is open. Costs one collection lookup when nothing changed;
        when something did, the lexical side is loaded again too."""
        with self._chroma.steady():
            if self._chroma.catch_up():
                self._lexical_side.forget()

    def articles(self, paths: list[str] | None = None) -> dict[str, ArticleRecord]:
        """Articles in the store (only those from ``paths`` when given)."""
        if paths is None:
            wheres: list[dict | None] = [None]
        else:
            # SQLite caps the variables of one statement, so a folder of 50,000 articles
            # is looked up a slice at a time.
            wanted = sorted(set(paths))
            wheres = [{"path": {"$in": wanted[i : i + _IN_LIMIT]}} for i in range(0, len(wanted), _IN_LIMIT)]
        with self._chroma.steady():  # every slice from one revision
            rows = [
                row
                for where in wheres
                for batch in self._chroma.pages(["metadatas"], where)
                for row in zip(batch["ids"], batch["metadatas"])
            ]
        return article_records(rows)

    def passages(self, chunk_ids: list[str]) -> dict[str, Passage]:
        return {cid: passage_from_record(cid, doc, meta) for cid, doc, meta in self._rows(chunk_ids)}

    def stored_passages(self, chunk_ids: list[str]) -> dict[str, tuple[Passage, int]]:
        """Stored passages with the passage count their article had when they were written."""
        return {
            cid: (passage_from_record(cid, doc, meta), int(meta["n_passages"]))
            for cid, doc, meta in self._rows(chunk_ids)
        }

    def _rows(self, chunk_ids: list[str]) -> list[tuple[str, str, dict]]:
        """(chunk id, text, metadata) of those of ``chunk_ids`` that are stored."""
        if not chunk_ids:
            return []
        got = self._chroma.get(chunk_ids)
        return list(zip(got["ids"], got["documents"], got["metadatas"]))

    def all_passages(self, where: dict | None = None) -> list[Passage]:
        """Every stored passage (matching ``where``); for small indexes, or one article."""
        return [
            passage_from_record(cid, doc, meta)
            for batch in self._chroma.pages(["documents", "metadatas"], where)
            for cid, doc, meta in zip(batch["ids"], batch["documents"], batch["metadatas"])
        ]

    def article_passages(self, article_id: str) -> list[Passage]:
        """Every stored passage of one article, in reading order."""
        return sorted(self.all_passages({"article_id": article_id}), key=lambda p: p.start)

    @property
    def lexical(self) -> LexicalIndex:
        with self._chroma.steady():  # the revision, and the passages a rebuild reads, from one client
            return self._lexical_side.current(self._chroma.revision, self._rebuild_lexical)

    def _rebuild_lexical(self) -> LexicalIndex:
        revision = self._chroma.revision  # read before the passages: a later write then shows as a mismatch
        lexical = LexicalSide.build(self._chroma.pages(["documents", "metadatas"]))
        if not self._chroma.being_written(revision):  # else the ingest at work saves its own
            self._save_lexical(lexical, revision)
        return lexical

    def dense_search(
        self, vector: list[float], k: int, where: dict | None = None
    ) -> list[tuple[Passage, float]]:
        """Nearest passages by cosine similarity (higher is closer)."""
        return [
            (passage_from_record(doc.id, doc.page_content, doc.metadata), 1.0 - distance)
            for doc, distance in self._chroma.nearest(vector, k, where)
        ]

    def state_path(self, name: str) -> Path:
        """A file of this index's own beside its lexical side, for state that is not
        passages (what a URL answered last time)."""
        return self.folder.state_path(name)

    def size_on_disk(self) -> int | None:
        return self.folder.size_on_disk()

    # -- writing ----------------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per index folder; a second one is refused, not queued."""
        with self.folder.exclusive():
            yield

    def _stamp(self, revision: str) -> None:
        self._chroma.stamp(revision)

    def _save_lexical(self, lexical: LexicalIndex, revision: str) -> None:
        self._lexical_side.save(lexical, revision)

    def apply(
        self, remove_ids: list[str], passages: list[Passage], vectors, n_passages: dict[str, int]
    ) -> None:
        """Add ``passages`` with their ``vectors`` to Chroma, then delete ``remove_ids``,
        then bring the lexical side to the same new revision.

        Adding before deleting means an update cut short leaves an article with both
        versions (the next ingest sees the new one complete and drops the old one),
        never with neither. The revision protocol makes any cut visible: Chroma gets a
        fresh "in progress" revision before its first write and the lexical index is
        saved under a second fresh one after the last, which Chroma gets at the very
        end. Killed anywhere in between, the two revisions differ and the next open
        rebuilds the lexical side from Chroma, the source of truth."""
        lexical = self.lexical
        adding = {p.chunk_id for p in passages}
        remove_ids = [c for c in dict.fromkeys(remove_ids) if c not in adding]
        if not remove_ids and not passages:
            return
        with self._chroma.steady():
            self._stamp(f"{WRITING}{uuid.uuid4().hex}")
            self._write_chroma(remove_ids, passages, vectors, n_passages)
            lexical.remove(set(remove_ids))
            lexical.add(
                [p.chunk_id for p in passages],
                [p.text for p in passages],
                [p.source for p in passages],
                [published_day(p.published) for p in passages],
            )
            revision = uuid.uuid4().hex
            self._save_lexical(lexical, revision)
            self._stamp(revision)

    def _write_chroma(self, remove_ids: list[str], passages: list[Passage], vectors, n_passages) -> None:
        batch_size = max(1, min(self._chroma.max_batch_size(), 5000))
        for i in range(0, len(passages), batch_size):
            part = passages[i : i + batch_size]
            self._chroma.upsert(
                [p.chunk_id for p in part],
                vectors[i : i + batch_size],
                [p.text for p in part],
                [metadata_of(p, n_passages[p.article_id]) for p in part],
            )
        for i in range(0, len(remove_ids), batch_size):
            self._chroma.delete(remove_ids[i : i + batch_size])
