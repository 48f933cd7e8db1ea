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

from ..conftest import SAMPLE, free_port, write

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
    write(
        folder / "port.txt", "Port strike ends\nDock workers in Rotterdam ended a nine-day strike on Friday."
    )
    first = ingest([folder], settings, embeddings=embeddings)
    assert first.added == 2 and first.chunks >= 4
    assert not (tmp_path / "unused-local-index").exists()  # nothing written locally but the cache

    searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    assert (
        "Alibaba rejected the White House’s claims"
        in searcher.search("what did Alibaba deny", 3)[0].passage.text
    )
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


def test_the_cli_switches_to_the_server_by_configuration_alone(tmp_path, chroma_server):
    """Ingest, ask, chat and an incremental re-ingest through the real CLI, pointed at the
    server by two environment variables; the lexical side is then loaded from the cache,
    not rebuilt, on the next start."""
    import json
    import os

    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "ASSISTANT_CHROMA_HOST": "127.0.0.1",
        "ASSISTANT_CHROMA_PORT": str(chroma_server),
        "ASSISTANT_COLLECTION": "cli-switch",
        "ASSISTANT_CACHE_DIR": str(tmp_path / "cache"),
        "ASSISTANT_INDEX": str(tmp_path / "no-local-index"),
        "ASSISTANT_PROVIDER": "extractive",
    }

    def cli(*args, stdin=None):
        proc = subprocess.run(
            [sys.executable, "-m", "assistant", *args], env=env, cwd=tmp_path, input=stdin,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert "Traceback" not in proc.stderr and proc.returncode == 0, proc.stderr
        return proc.stdout

    folder = tmp_path / "articles"
    write(folder / "alibaba.txt", SAMPLE.read_text(encoding="utf-8"))
    assert json.loads(cli("ingest", str(folder), "--json"))["added"] == 1
    answer = json.loads(cli("ask", "What did Alibaba deny?", "--json"))
    assert "Alibaba rejected the White House’s claims" in answer["citations"][0]["quote"]
    lexical_files = sorted((tmp_path / "cache" / "lexical").rglob("*"))
    stamps = {p: p.stat().st_mtime_ns for p in lexical_files if p.is_file()}
    assert stamps, "the lexical side of a server index is cached per user"
    lines = cli(
        "chat",
        "--json",
        stdin="What did Alibaba deny?\nDid it say whether it ever had a relationship with the PLA?\n",
    )
    second = json.loads(lines.splitlines()[1])
    assert "declined to comment" in second["answer"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # loaded, not rebuilt, on this start

    write(folder / "port.txt", "Port strike ends\nDock workers in Antwerp accepted a 4 percent pay rise.")
    report = json.loads(cli("ingest", str(folder), "--json"))
    assert (report["added"], report["unchanged"]) == (1, 1)
    assert json.loads(cli("search", "Antwerp pay rise", "--json"))["results"][0]["source"] == "port.txt"
    assert not (tmp_path / "no-local-index").exists()
