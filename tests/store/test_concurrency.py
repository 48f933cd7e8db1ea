"""The passage store under concurrent use: a chat reads on its warm-up thread while a
question's search catches up with what an ingest in another terminal wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from chromadb.api.models.Collection import Collection

from assistant.embeddings import MiniLMEmbeddings
from assistant.store import PassageStore

from ..conftest import SAMPLE, write

PORT = (
    "# Port strike ends\n\nDock workers in Rotterdam ended a nine-day strike on Friday after a wage deal.\n"
)
# How long a read waits, inside Chroma's `get`, for a catch-up to reopen the client under it.
WINDOW_S = 2.0


def ingest_in_another_process(news, settings) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", str(news), "--index", str(settings.index_dir)],
        check=True, capture_output=True, env={**os.environ, "ASSISTANT_CACHE_DIR": str(settings.cache_dir)},
    )  # fmt: skip


def all_chunk_ids(store: PassageStore) -> set[str]:
    return {p.chunk_id for p in store.all_passages()}


def article_chunk_ids(store: PassageStore) -> set[str]:
    return {c for record in store.articles().values() for c in record.chunk_ids}


@pytest.mark.slow
@pytest.mark.parametrize("read", [all_chunk_ids, article_chunk_ids], ids=["all_passages", "articles"])
def test_a_read_never_meets_the_client_a_catch_up_reopens(tmp_path, settings, monkeypatch, read):
    """The chat's warm-up thread reads every passage while a question's search catches up
    with an ingest from another terminal, which closes the Chroma client and opens a new
    one. The read must see one whole index, never a client closed under it. Chroma's `get`
    is slowed for the reader, so the catch-up, unless held off, lands inside the read
    every time."""
    news = tmp_path / "news"
    write(news / "alibaba.txt", SAMPLE.read_text(encoding="utf-8"))
    ingest_in_another_process(news, settings)  # the chat process holds the only client it has
    store = PassageStore.open(settings, MiniLMEmbeddings.model_id)
    before = read(store)
    write(news / "port.md", PORT)
    ingest_in_another_process(news, settings)

    reading, caught_up = threading.Event(), threading.Event()
    real_get = Collection.get

    def slow_get(self, *args, **kwargs):
        if threading.current_thread().name == "warm-up" and not reading.is_set():
            reading.set()
            caught_up.wait(timeout=WINDOW_S)  # the window a catch-up on another thread could use
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", slow_get)
    seen, failed = [], []

    def warm_up() -> None:
        try:
            seen.append(read(store))
        except Exception as exc:  # the assertion below names it
            failed.append(exc)

    reader = threading.Thread(target=warm_up, name="warm-up")
    reader.start()
    assert reading.wait(timeout=60), "the read never reached Chroma"
    store.catch_up()
    caught_up.set()
    reader.join(timeout=60)
    assert not reader.is_alive()
    assert not failed, f"the read met the client the catch-up reopened: {failed[0]!r}"
    after = read(store)
    assert before < after  # the catch-up took in the other process's write
    # Chroma reads the rows from SQLite as they are now, so the read may see either, but whole.
    assert seen[0] in (before, after)
