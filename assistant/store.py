"""Where passages live: a Chroma collection (local folder or server) for the vectors and
the texts, plus the BM25 side kept beside it.

The Chroma collection is the source of truth. Its metadata records the embedding model
that built it (opening it with another one is an error) and a ``revision`` that changes
with every write; the lexical index stores the revision it reflects, and is rebuilt
from Chroma only when the two disagree (a crash mid-write, another machine's ingest).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import Settings
from .errors import AssistantError, EmbeddingMismatch, IndexError_, IndexNotFound, StoreUnavailable
from .lexical import LexicalIndex
from .models import Passage

__all__ = ["PassageStore", "ArticleRecord", "SearchFilter", "published_day"]

_MARKER = "assistant-index.json"
_FORMAT = 1
# Files that may sit in an index folder before anything was ingested (the repo's index/).
_MARKER_TMP = _MARKER + ".tmp"
_ALLOWED_IN_FRESH_FOLDER = {".gitignore", "README.md", ".lock", _MARKER_TMP}
# The revision Chroma carries while an ingest is writing to it.
_WRITING = "writing-"
# Most values in one `$in` filter: SQLite limits the variables of a statement.
_IN_LIMIT = 500


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _damaged(index_dir: Path, what: str) -> IndexError_:
    return IndexError_(
        f"{index_dir}/ is damaged ({what}): nothing was changed in it; move it aside or delete it, "
        "then run `assistant ingest` again (or use another --index)"
    )


@contextmanager
def _exclusive(lock_dir: Path) -> Iterator[None]:
    """Hold ``lock_dir/.lock`` exclusively; if another process holds it, refuse at once.
    The kernel drops the lock when its holder dies, however it dies."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _ingest_busy(lock_dir, writing=True) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _another_ingest_holds(lock_dir: Path) -> bool:
    """Whether another process holds ``lock_dir/.lock`` right now. Never creates the
    file, and holds the lock only for the instant of asking."""
    try:
        fd = os.open(lock_dir / ".lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _ingest_busy(index_dir: Path, writing: bool) -> AssistantError:
    if writing:
        return AssistantError(
            f"another ingest is writing to {index_dir}/: wait for it to finish, then run this one again"
        )
    return IndexError_(f"an ingest is creating {index_dir}/ right now: wait for it to finish, then ask again")


@dataclass(frozen=True)
class ArticleRecord:
    """What the store holds of one article: enough to decide unchanged / update / prune."""

    article_id: str
    content_hash: str
    path: str
    source: str
    title: str
    chunk_ids: tuple[str, ...]
    complete: bool  # all of its passages are present with one content hash
    # Content hashes whose passages are all present (an update killed between adding the
    # new passages and deleting the old ones leaves two hashes, the new one complete).
    complete_hashes: frozenset[str] = frozenset()
    summary_only: bool = False  # a feed entry stored as its summary, not the article


@dataclass(frozen=True)
class SearchFilter:
    sources: tuple[str, ...] = ()
    published_from: int | None = None  # YYYYMMDD
    published_to: int | None = None

    def chroma_where(self) -> dict | None:
        clauses: list[dict] = []
        if self.sources:
            clauses.append({"source": {"$in": list(self.sources)}})
        if self.published_from is not None:
            clauses.append({"published_day": {"$gte": self.published_from}})
        if self.published_to is not None:
            clauses.append({"published_day": {"$lte": self.published_to}})
            clauses.append({"published_day": {"$gt": 0}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def lexical_mask(self, lexical: LexicalIndex):
        return lexical.mask(set(self.sources) or None, self.published_from, self.published_to)


def index_marker_exists(index_dir: Path) -> bool:
    """Whether ``index_dir`` looks like an index (cheap: no Chroma import)."""
    return (index_dir / _MARKER).is_file()


def published_day(published: str | None) -> int:
    """'2024-11-05' -> 20241105; 0 when unknown."""
    if not published:
        return 0
    try:
        return int(published[:10].replace("-", ""))
    except ValueError:
        return 0


def _metadata(passage: Passage, n_passages: int) -> dict:
    return {
        "article_id": passage.article_id,
        "position": passage.position,
        "n_passages": n_passages,
        "start": passage.start,
        "end": passage.end,
        "title": passage.title,
        "source": passage.source,
        "path": passage.path,
        "content_hash": passage.content_hash,
        "url": passage.url or "",
        "published": passage.published or "",
        "published_day": published_day(passage.published),
        "author": passage.author or "",
        "tokens": passage.tokens,
        "site": passage.site or "",
        "summary_only": passage.summary_only,
        "page": passage.page or 0,
        "page_breaks": ",".join(map(str, passage.page_breaks)),
    }


def passage_from_record(chunk_id: str, text: str, meta: dict) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        article_id=meta["article_id"],
        position=int(meta["position"]),
        text=text,
        start=int(meta["start"]),
        end=int(meta["end"]),
        title=meta.get("title", ""),
        source=meta.get("source", ""),
        path=meta.get("path", ""),
        content_hash=meta.get("content_hash", ""),
        url=meta.get("url") or None,
        published=meta.get("published") or None,
        author=meta.get("author") or None,
        tokens=int(meta.get("tokens", 0)),
        site=meta.get("site") or None,
        summary_only=bool(meta.get("summary_only", False)),
        page=int(meta.get("page") or 0) or None,
        page_breaks=tuple(int(b) for b in str(meta.get("page_breaks") or "").split(",") if b),
    )


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class PassageStore:
    """Open with :meth:`open`; ``create=True`` makes a new index where there is none."""

    def __init__(self, settings: Settings, client, collection, model_id: str, lexical_dir: Path):
        self.settings = settings
        self._client = client
        self._collection = collection
        self.model_id = model_id
        self._lexical_dir = lexical_dir
        self._lexical: LexicalIndex | None = None
        self._vectorstore = None
        self._swapping = threading.RLock()  # a search on another thread never meets a closed client

    # -- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings, model_id: str, *, create: bool = False) -> "PassageStore":
        if settings.uses_server:
            client = cls._server_client(settings)
        else:
            client = cls._local_client(settings.index_dir, create)
        collection = cls._collection_for(client, settings, model_id, create)
        return cls(settings, client, collection, model_id, cls._lexical_dir_for(settings))

    @classmethod
    @contextmanager
    def open_for_writing(cls, settings: Settings, model_id: str) -> Iterator["PassageStore"]:
        """Open, creating the index if there is none, holding the write lock throughout:
        one writer per index, a second one is refused. A foreign or damaged folder is
        refused before anything (the lock file included) is written into it."""
        if not settings.uses_server:
            cls._check_unless_being_written(settings.index_dir, create=True)
        with _exclusive(cls._lexical_dir_for(settings).parent):
            yield cls.open(settings, model_id, create=True)

    @staticmethod
    def _lexical_dir_for(settings: Settings) -> Path:
        if settings.uses_server:
            safe = f"{settings.chroma_host}-{settings.chroma_port}-{settings.collection}".replace("/", "_")
            return settings.cache_dir / "lexical" / safe
        return settings.index_dir / "lexical"

    @staticmethod
    def _check_local_folder(index_dir: Path, create: bool) -> bool:
        """Refuse (without writing anything) a folder that is not ours or is damaged.
        True when there is no index there yet and ``create`` allows making one."""
        marker = index_dir / _MARKER
        if index_dir.exists() and not index_dir.is_dir():
            raise IndexError_(f"{index_dir} is a file, not an index folder: choose a folder with --index")
        if not marker.exists():
            strangers = sorted(p.name for p in index_dir.glob("*") if p.name not in _ALLOWED_IN_FRESH_FOLDER)
            if strangers:
                raise IndexError_(
                    f"{index_dir}/ is not an assistant index and is not empty ({', '.join(strangers[:3])}...): "
                    + ("choose an empty or new folder with --index" if create else "point --index at an index folder")
                )
            if not create:
                raise IndexNotFound.nothing_in(f"{index_dir}/")
            return True
        try:
            info = json.loads(marker.read_text())
            if not isinstance(info, dict):
                raise ValueError(info)
        except (OSError, ValueError, UnicodeDecodeError):
            raise _damaged(index_dir, f"{_MARKER} is unreadable") from None
        if info.get("format") != _FORMAT:
            raise IndexError_(
                f"{index_dir}/ was written by an incompatible version (format {info.get('format')}): "
                "ingest into a new --index"
            )
        chroma_dir = index_dir / "chroma"
        # An empty chroma/ is an index whose first ingest died before Chroma wrote anything.
        if chroma_dir.is_dir() and any(chroma_dir.iterdir()):
            database = chroma_dir / "chroma.sqlite3"
            if not database.is_file():
                raise _damaged(index_dir, "chroma/chroma.sqlite3 is missing")
            try:
                with open(database, "rb") as handle:
                    header = handle.read(16)
            except OSError as exc:
                raise _damaged(index_dir, f"chroma/chroma.sqlite3 is unreadable: {exc.strerror}") from None
            if header and header != b"SQLite format 3\x00":
                raise _damaged(index_dir, "chroma/chroma.sqlite3 is not a database")
        elif not create:
            raise IndexNotFound.nothing_in(f"{index_dir}/")
        return False

    @classmethod
    def _check_unless_being_written(cls, index_dir: Path, create: bool) -> bool:
        """:meth:`_check_local_folder`, but a folder that an ingest is writing right now is
        named as such: while a first ingest creates an index, it holds ``chroma/`` before
        Chroma has written its database there, which would read as damaged."""
        try:
            return cls._check_local_folder(index_dir, create)
        except IndexError_:
            if _another_ingest_holds(index_dir):
                raise _ingest_busy(index_dir, writing=create) from None
            # Once more: the ingest that was creating it may have finished in between.
            return cls._check_local_folder(index_dir, create)

    @classmethod
    def _local_client(cls, index_dir: Path, create: bool):
        # Writers hold the lock by now (and have checked before taking it); asking again
        # would find their own lock held.
        check = cls._check_local_folder if create else cls._check_unless_being_written
        if check(index_dir, create):
            index_dir.mkdir(parents=True, exist_ok=True)
            tmp = index_dir / _MARKER_TMP  # written whole, then renamed: a kill never leaves half a marker
            tmp.write_text(json.dumps({"format": _FORMAT, "kind": "assistant passage index"}) + "\n")
            os.replace(tmp, index_dir / _MARKER)
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            return chromadb.PersistentClient(
                path=str(index_dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
            )
        except Exception as exc:  # chromadb raises many kinds for a damaged folder
            raise _damaged(index_dir, f"Chroma cannot open it: {_one_line(exc)}") from None

    @staticmethod
    def _server_client(settings: Settings):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            client = chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                settings=ChromaSettings(anonymized_telemetry=False),
            )
            client.heartbeat()
            return client
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {settings.chroma_host}:{settings.chroma_port} "
                f"({type(exc).__name__}): is `chroma run` started there?"
            ) from None

    @staticmethod
    def _collection_for(client, settings: Settings, model_id: str, create: bool):
        from chromadb.errors import NotFoundError

        try:
            try:
                collection = client.get_collection(settings.collection)
            except NotFoundError:
                if not create:
                    raise IndexNotFound.nothing_in(settings.index_location) from None
                return client.create_collection(
                    settings.collection,
                    embedding_function=None,
                    metadata={"embedding_model": model_id, "revision": "empty"},
                    configuration={"hnsw": {"space": "cosine"}},
                )
        except AssistantError:
            raise
        except Exception as exc:
            if settings.uses_server:
                raise StoreUnavailable(
                    f"the Chroma server at {settings.chroma_host}:{settings.chroma_port} failed: {_one_line(exc)}"
                ) from None
            raise _damaged(settings.index_dir, f"Chroma cannot read it: {_one_line(exc)}") from None
        built_with = (collection.metadata or {}).get("embedding_model")
        if built_with is None:
            raise IndexError_(f"collection '{settings.collection}' was not made by this assistant (no embedding model recorded)")
        if built_with != model_id:
            raise EmbeddingMismatch(
                f"the index was built with embedding model '{built_with}' but '{model_id}' is configured: "
                "use the same embedding setting, or ingest into a new --index"
            )
        return collection

    # -- reading ----------------------------------------------------------------------
    @property
    def revision(self) -> str:
        return (self._collection.metadata or {}).get("revision", "")

    def count(self) -> int:
        return self._collection.count()

    def catch_up(self) -> None:
        """See what other processes wrote since this store was opened: an ingest in another
        terminal while a chat is open. Costs one collection lookup when nothing changed.

        A local Chroma client keeps the vectors it loaded in memory: it would go on
        finding the passages an update deleted (and dropping them) and never find the
        new ones, so a changed index means a new client. A server needs only the
        collection's new revision. Either way the lexical side is loaded again."""
        with self._swapping:
            if self._client is not None:  # None: reopening failed last time; try again
                current = self._collection_for(self._client, self.settings, self.model_id, create=False)
                revision = (current.metadata or {}).get("revision", "")
                if revision == self.revision or self._being_written(revision):
                    return  # mid-write, keep the last whole view: the writer finishes each batch soon
                if self.settings.uses_server:
                    self._use(current)
                    return
                self._client.close()  # the last client of a path stops Chroma's cached system
                self._client = None
            self._client = self._local_client(self.settings.index_dir, create=False)
            self._use(self._collection_for(self._client, self.settings, self.model_id, create=False))

    def _use(self, collection) -> None:
        self._collection = collection
        self._vectorstore = None
        self._lexical = None

    def _pages(self, include: list[str], where: dict | None = None, page: int = 5000) -> Iterator[dict]:
        offset = 0
        while True:
            batch = self._collection.get(where=where, include=include, limit=page, offset=offset)
            if not batch["ids"]:
                return
            yield batch
            offset += len(batch["ids"])
            if len(batch["ids"]) < page:
                return

    def articles(self, paths: list[str] | None = None) -> dict[str, ArticleRecord]:
        """Articles in the store (only those from ``paths`` when given)."""
        if paths is None:
            wheres: list[dict | None] = [None]
        else:
            # SQLite caps the variables of one statement, so a folder of 50,000 articles
            # is looked up a slice at a time.
            wanted = sorted(set(paths))
            wheres = [{"path": {"$in": wanted[i : i + _IN_LIMIT]}} for i in range(0, len(wanted), _IN_LIMIT)]
        grouped: dict[str, list[tuple[str, dict]]] = {}
        for where in wheres:
            for batch in self._pages(["metadatas"], where):
                for chunk_id, meta in zip(batch["ids"], batch["metadatas"]):
                    grouped.setdefault(meta["article_id"], []).append((chunk_id, meta))
        records = {}
        for article_id, rows in grouped.items():
            hashes = {m["content_hash"] for _, m in rows}
            expected = {int(m["n_passages"]) for _, m in rows}
            first = rows[0][1]
            complete_hashes = set()
            for content_hash in hashes:
                mine = [m for _, m in rows if m["content_hash"] == content_hash]
                if {int(m["n_passages"]) for m in mine} == {len(mine)}:
                    complete_hashes.add(content_hash)
            records[article_id] = ArticleRecord(
                article_id=article_id,
                content_hash=first["content_hash"],
                path=first["path"],
                source=first["source"],
                title=first["title"],
                chunk_ids=tuple(sorted(c for c, _ in rows)),
                complete=len(hashes) == 1 and expected == {len(rows)},
                complete_hashes=frozenset(complete_hashes),
                summary_only=bool(first.get("summary_only", False)),
            )
        return records

    def passages(self, chunk_ids: list[str]) -> dict[str, Passage]:
        if not chunk_ids:
            return {}
        with self._swapping:
            got = self._collection.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        return {
            cid: passage_from_record(cid, doc, meta)
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
        }

    def all_passages(self, where: dict | None = None) -> list[Passage]:
        """Every stored passage (matching ``where``); for small indexes, or one article."""
        return [
            passage_from_record(cid, doc, meta)
            for batch in self._pages(["documents", "metadatas"], where)
            for cid, doc, meta in zip(batch["ids"], batch["documents"], batch["metadatas"])
        ]

    def article_passages(self, article_id: str) -> list[Passage]:
        """Every stored passage of one article, in reading order."""
        return sorted(self.all_passages({"article_id": article_id}), key=lambda p: p.start)

    def stored_passages(self, chunk_ids: list[str]) -> dict[str, tuple[Passage, int]]:
        """Stored passages with the passage count their article had when they were written."""
        if not chunk_ids:
            return {}
        got = self._collection.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        return {
            cid: (passage_from_record(cid, doc, meta), int(meta["n_passages"]))
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
        }

    @property
    def lexical(self) -> LexicalIndex:
        lexical = self._lexical  # read once: a catch-up on another thread may reset it
        if lexical is None:
            lexical = LexicalIndex.load(self._lexical_dir)
            if lexical is None or lexical.revision != self.revision:
                lexical = self._rebuild_lexical()
            self._lexical = lexical
        return lexical

    def _rebuild_lexical(self) -> LexicalIndex:
        revision = self.revision  # read before the passages: a later write then shows as a mismatch
        lexical = LexicalIndex()
        for batch in self._pages(["documents", "metadatas"]):
            lexical.add(
                batch["ids"],
                batch["documents"],
                [m["source"] for m in batch["metadatas"]],
                [int(m.get("published_day", 0)) for m in batch["metadatas"]],
            )
        if not self._being_written(revision):  # else the ingest at work saves its own
            self._save_lexical(lexical, revision)
        return lexical

    def _being_written(self, revision: str) -> bool:
        """Whether an ingest is writing right now (an "in progress" revision alone may be
        what a killed one left)."""
        return revision.startswith(_WRITING) and _another_ingest_holds(self._lexical_dir.parent)

    def _save_lexical(self, lexical: LexicalIndex, revision: str) -> None:
        try:
            lexical.save(self._lexical_dir, revision)
        except OSError as exc:
            raise IndexError_(f"cannot write the lexical index at {self._lexical_dir}: {exc.strerror or exc}") from None

    def dense_search(self, vector: list[float], k: int, where: dict | None = None) -> list[tuple[Passage, float]]:
        """Nearest passages by cosine similarity (higher is closer)."""
        with self._swapping:
            total = self.count()  # one round trip, not two: this is on every query
            if total == 0:
                return []
            results = self._langchain_vectorstore().similarity_search_by_vector_with_relevance_scores(
                vector, k=min(k, total), filter=where
            )
        return [(passage_from_record(doc.id, doc.page_content, doc.metadata), 1.0 - dist) for doc, dist in results]

    def _langchain_vectorstore(self):
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            self._vectorstore = Chroma(
                client=self._client, collection_name=self.settings.collection, create_collection_if_not_exists=False
            )
        return self._vectorstore

    def state_path(self, name: str) -> Path:
        """A file of this index's own beside its lexical side, for state that is not
        passages (what a URL answered last time)."""
        return self._lexical_dir / name

    def size_on_disk(self) -> int | None:
        if self.settings.uses_server:
            return None
        return _folder_size(self.settings.index_dir)

    # -- writing ----------------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time per index folder; a second one is refused, not queued."""
        with _exclusive(self._lexical_dir.parent):
            yield

    def _stamp(self, revision: str) -> None:
        metadata = dict(self._collection.metadata or {})
        metadata["revision"] = revision
        self._collection.modify(metadata=metadata)

    def apply(self, remove_ids: list[str], passages: list[Passage], vectors, n_passages: dict[str, int]) -> None:
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
        self._stamp(f"{_WRITING}{uuid.uuid4().hex}")
        batch_size = max(1, min(self._client.get_max_batch_size(), 5000))
        for i in range(0, len(passages), batch_size):
            part = passages[i : i + batch_size]
            self._collection.upsert(
                ids=[p.chunk_id for p in part],
                embeddings=vectors[i : i + batch_size],
                documents=[p.text for p in part],
                metadatas=[_metadata(p, n_passages[p.article_id]) for p in part],
            )
        for i in range(0, len(remove_ids), batch_size):
            self._collection.delete(ids=remove_ids[i : i + batch_size])
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
