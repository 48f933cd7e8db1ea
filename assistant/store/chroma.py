"""The Chroma side of the store: the client, the collection, and catching up with what
other processes wrote.

Catching up may close the client and open a new one. Every use of the client and the
collection goes through :class:`ChromaIndex` and holds its lock, so a read on another
thread (the chat's warm-up, a search) never meets a client closed under it; a read that
pages through the collection holds it across its pages, so it sees one revision whole.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from ..config import Settings
from ..errors import AssistantError, EmbeddingMismatch, IndexError_, IndexNotFound, StoreUnavailable
from .folder import IndexFolder, damaged

__all__ = ["ChromaIndex", "WRITING"]

# The revision Chroma carries while an ingest is writing to it.
WRITING = "writing-"
_PAGE = 5000  # rows per `get` when reading many


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _local_client(folder: IndexFolder, create: bool):
    chroma_dir = folder.prepare(create)
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    try:
        return chromadb.PersistentClient(
            path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False)
        )
    except Exception as exc:  # chromadb raises many kinds for a damaged folder
        raise damaged(folder.settings.index_dir, f"Chroma cannot open it: {_one_line(exc)}") from None


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


def _find_or_create(client, settings: Settings, model_id: str, create: bool):
    from chromadb.errors import NotFoundError

    try:
        try:
            return client.get_collection(settings.collection)
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
        raise damaged(settings.index_dir, f"Chroma cannot read it: {_one_line(exc)}") from None


def _collection_for(client, settings: Settings, model_id: str, create: bool):
    """The collection, refused unless this assistant made it with embedding model ``model_id``."""
    collection = _find_or_create(client, settings, model_id, create)
    built_with = (collection.metadata or {}).get("embedding_model")
    if built_with is None:
        raise IndexError_(
            f"collection '{settings.collection}' was not made by this assistant (no embedding model recorded)"
        )
    if built_with != model_id:
        raise EmbeddingMismatch(
            f"the index was built with embedding model '{built_with}' but '{model_id}' is configured: "
            "use the same embedding setting, or ingest into a new --index"
        )
    return collection


class ChromaIndex:
    """One Chroma collection, its client, and the lock that keeps a reopen from meeting a read."""

    def __init__(self, folder: IndexFolder, model_id: str, client, collection):
        self.folder = folder
        self.settings = folder.settings
        self.model_id = model_id
        self._client = client
        self._collection = collection
        self._vectorstore = None
        # Held by every use of the client; re-entrant, so a caller holding it may use the methods.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, folder: IndexFolder, model_id: str, create: bool) -> "ChromaIndex":
        settings = folder.settings
        client = _server_client(settings) if settings.uses_server else _local_client(folder, create)
        return cls(folder, model_id, client, _collection_for(client, settings, model_id, create))

    @contextmanager
    def steady(self) -> Iterator[None]:
        """No catch-up meanwhile: what is read inside comes from one client and one revision."""
        with self._lock:
            yield

    # -- catching up ------------------------------------------------------------------
    def catch_up(self) -> bool:
        """Take in what other processes wrote since the last look; True when the index
        changed (then whatever was derived from the old revision is stale).

        A local Chroma client keeps the vectors it loaded in memory: it would go on
        finding the passages an update deleted (and dropping them) and never find the
        new ones, so a changed index means a new client. A server needs only the
        collection's new revision."""
        with self._lock:
            if self._client is not None:  # None: reopening failed last time; try again
                current = _collection_for(self._client, self.settings, self.model_id, create=False)
                revision = (current.metadata or {}).get("revision", "")
                if revision == self.revision or self.being_written(revision):
                    return False  # mid-write, keep the last whole view: the writer finishes each batch soon
                if self.settings.uses_server:
                    self._use(current)
                    return True
                self._client.close()  # the last client of a path stops Chroma's cached system
                self._client = None
            self._client = _local_client(self.folder, create=False)
            self._use(_collection_for(self._client, self.settings, self.model_id, create=False))
            return True

    def _use(self, collection) -> None:
        self._collection = collection
        self._vectorstore = None

    def being_written(self, revision: str) -> bool:
        """Whether an ingest is writing right now (an "in progress" revision alone may be
        what a killed one left)."""
        return revision.startswith(WRITING) and self.folder.another_ingest_holds()

    # -- reading ----------------------------------------------------------------------
    @property
    def revision(self) -> str:
        with self._lock:
            return (self._collection.metadata or {}).get("revision", "")

    def count(self) -> int:
        with self._lock:
            return self._collection.count()

    def get(self, ids: list[str]) -> dict:
        """The rows of ``ids`` (those present) with their documents and metadata."""
        with self._lock:
            return self._collection.get(ids=list(ids), include=["documents", "metadatas"])

    def pages(self, include: list[str], where: dict | None = None) -> Iterator[dict]:
        """Every row (matching ``where``), a page at a time. The lock is held from the
        first page to the last: consume it whole, on one thread."""
        with self._lock:
            offset = 0
            while True:
                batch = self._collection.get(where=where, include=include, limit=_PAGE, offset=offset)
                if not batch["ids"]:
                    return
                yield batch
                offset += len(batch["ids"])
                if len(batch["ids"]) < _PAGE:
                    return

    def nearest(self, vector: list[float], k: int, where: dict | None = None) -> list:
        """LangChain documents nearest ``vector``, each with its cosine distance."""
        with self._lock:
            total = self._collection.count()  # one round trip, not two: this is on every query
            if total == 0:
                return []
            return self._langchain_vectorstore().similarity_search_by_vector_with_relevance_scores(
                vector, k=min(k, total), filter=where
            )

    def _langchain_vectorstore(self):
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            self._vectorstore = Chroma(
                client=self._client,
                collection_name=self.settings.collection,
                create_collection_if_not_exists=False,
            )
        return self._vectorstore

    # -- writing ----------------------------------------------------------------------
    def stamp(self, revision: str) -> None:
        with self._lock:
            metadata = dict(self._collection.metadata or {})
            metadata["revision"] = revision
            self._collection.modify(metadata=metadata)

    def max_batch_size(self) -> int:
        with self._lock:
            return self._client.get_max_batch_size()

    def upsert(self, ids: list[str], vectors, documents: list[str], metadatas: list[dict]) -> None:
        with self._lock:
            self._collection.upsert(ids=ids, embeddings=vectors, documents=documents, metadatas=metadatas)

    def delete(self, ids: list[str]) -> None:
        with self._lock:
            self._collection.delete(ids=ids)
