"""The store on a real Chroma server (`chroma run`) started by the test on 127.0.0.1."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.errors import StoreUnavailable
from assistant.ingest import ingest
from assistant.retrieval import Searcher
from assistant.store import PassageStore

from .conftest import SAMPLE, free_port, write

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.exists():
        chroma = Path(shutil.which("chroma") or "chroma")
    data = tmp_path_factory.mktemp("chroma-data")
    port = free_port()
    log = open(data / "server.log", "w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import chromadb

    deadline = time.time() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def server_settings(tmp_path, port, cache="cache"):
    return load_settings(
        env={},
        chroma_host="127.0.0.1",
        chroma_port=port,
        collection=f"test-{tmp_path.name[-20:].strip('_') or 'x'}",
        cache_dir=tmp_path / cache,
        index_dir=tmp_path / "unused-local-index",
    )


def test_ingest_search_and_reingest_against_server(tmp_path, chroma_server, embeddings):
    settings = server_settings(tmp_path, chroma_server)
    folder = tmp_path / "articles"
    write(folder / "alibaba.txt", SAMPLE.read_text(encoding="utf-8"))
    write(folder / "port.txt", "Port strike ends\nDock workers in Rotterdam ended a nine-day strike on Friday.")
    first = ingest([folder], settings, embeddings=embeddings)
    assert first.added == 2 and first.chunks >= 4
    assert not (tmp_path / "unused-local-index").exists()  # nothing written locally but the cache

    searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    assert "Alibaba rejected the White House’s claims" in searcher.search("what did Alibaba deny", 3)[0].passage.text
    assert searcher.search("Rotterdam", 1)[0].passage.source == "port.txt"

    again = ingest([folder], settings, embeddings=embeddings)
    assert (again.unchanged, again.chunks) == (2, 0)
    write(folder / "port.txt", "Port strike ends\nDock workers in Antwerp accepted a 4 percent pay rise.")
    changed = ingest([folder], settings, embeddings=embeddings)
    assert changed.updated == 1

    # Another machine (empty cache) sees the same passages: its lexical side is built from the server once.
    other = server_settings(tmp_path, chroma_server, cache="other-cache")
    store = PassageStore.open(other, embeddings.model_id)
    assert store.lexical.search("Antwerp", 1) and not store.lexical.search("Rotterdam", 1)
    assert len(store.lexical) == store.count() == sum(len(r.chunk_ids) for r in store.articles().values())
    # ... and the first machine's cached lexical side follows the change too.
    mine = PassageStore.open(settings, embeddings.model_id)
    assert mine.lexical.revision == mine.revision
    assert mine.lexical.search("Antwerp", 1)


def test_unreachable_server_is_a_clear_error(tmp_path):
    settings = server_settings(tmp_path, free_port())
    with pytest.raises(StoreUnavailable, match="chroma run"):
        PassageStore.open(settings, "x")
