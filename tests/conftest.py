from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.embeddings import MiniLMEmbeddings
from assistant.ingest import ingest
from assistant.lexical import tokenize
from assistant.prompts import load_prompts
from assistant.providers import ChatProvider, Provider
from assistant.retrieval import Searcher
from assistant.store import PassageStore

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "articles" / "alibaba-pla-white-house-memo.txt"
# The sample article's answer to "What did Alibaba deny?", as it words it.
DENIAL = "Alibaba rejected the White House’s claims"
# The user's cache holds the assembled model (1.1 GB): tests share it rather than copy it.
USER_CACHE = load_settings(env={}).cache_dir  # read at import, before any test changes HOME
# Model servers started by tests live in folders under this one (short: it holds Unix sockets).
_SERVER_ROOT = Path(tempfile.mkdtemp(prefix="asrv-", dir="/tmp"))


def new_server_dir() -> Path:
    """A fresh folder for a model server a test starts; stopped at the end of the session
    at the latest (the `server_dir` fixture stops it at the end of the test)."""
    return Path(tempfile.mkdtemp(dir=_SERVER_ROOT))


def stop_server(folder: Path) -> int | None:
    """Stop the model server in ``folder`` if one runs (its pid, if one did)."""
    from assistant.providers.model_server import ModelServer

    return ModelServer(folder=folder).stop()


@pytest.fixture
def server_dir():
    folder = new_server_dir()
    yield folder
    stop_server(folder)


@pytest.fixture(scope="session", autouse=True)
def no_model_server_left_behind():
    """Tests never leave a model server running. (Whether one was started in the user's own
    folder cannot be told from here: the user may be running the assistant meanwhile. The
    per-test guard in `clean_environment` covers the homes the tests make.)"""
    yield
    from assistant.providers.model_server import ModelServer

    left = [folder for folder in sorted(_SERVER_ROOT.iterdir()) if ModelServer(folder=folder).alive()]
    for folder in left:
        stop_server(folder)
    shutil.rmtree(_SERVER_ROOT, ignore_errors=True)
    assert not left, f"tests left model servers running in {left}"


# The user's assembled local model (1.1 GB): shared with every test's home, since assembling
# it anew per test would take minutes.
_SHARED_MODELS = USER_CACHE / "models"
# What the caller's shell may hold that changes what the tests see.
_CALLER_TERMINAL = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE")


@pytest.fixture(autouse=True)
def clean_environment(tmp_path_factory, monkeypatch):
    """Every test runs in the same environment whatever the caller's: no ASSISTANT_ or
    OPENAI_ settings, a plain xterm (Emacs's shell and some CI runners say TERM=dumb, and
    the chat wraps differently there), and a home folder of its own, so nothing reads or
    writes the user's index, cache, config or chat history; only the model is shared."""
    for name in list(os.environ):
        if name.startswith(("ASSISTANT_", "OPENAI_")) or name in _CALLER_TERMINAL:
            monkeypatch.delenv(name)
    monkeypatch.setenv("TERM", "xterm")
    home = tmp_path_factory.mktemp("home")
    _SHARED_MODELS.mkdir(parents=True, exist_ok=True)
    (home / ".cache" / "assistant").mkdir(parents=True)
    (home / ".cache" / "assistant" / "models").symlink_to(_SHARED_MODELS, target_is_directory=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)  # a relative assistant.toml or index/ resolves here, not in the caller's folder
    # A model server any command of this test starts (the local provider's default) lives in a
    # short folder of its own, and is stopped when the test ends: none outlives its test.
    server = new_server_dir()
    monkeypatch.setenv("ASSISTANT_SERVER_DIR", str(server))
    yield
    stop_server(server)
    # A command that was handed a HOME but not this environment (a test building its own
    # env) would start its server in that home's cache: none may be left there either.
    stray = stop_server(home / ".cache" / "assistant" / "server")
    assert stray is None, f"the test left a model server (pid {stray}) running under {home}"


@pytest.fixture
def settings(tmp_path):
    """Settings isolated from the user's environment, with a fresh index and cache."""
    return load_settings(env={}, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")


@pytest.fixture(scope="session")
def embeddings():
    return MiniLMEmbeddings()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ingest_sample(folder: Path) -> Path:
    """The sample article ingested by the real CLI into ``folder/index`` (embeddings cached
    in ``folder/cache``); returns ``folder``."""
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", str(SAMPLE), "--index", str(folder / "index")],
        check=True, capture_output=True, env={**os.environ, "ASSISTANT_CACHE_DIR": str(folder / "cache")},
    )  # fmt: skip
    return folder


def free_port() -> int:
    """A port nothing listens on right now, for servers the tests start on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def searcher(settings, embeddings):
    """A searcher over the sample article, ingested into the test's own index."""
    ingest([SAMPLE.parent], settings, embeddings=embeddings)
    return Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)


def cli_env(tmp_path: Path, index: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user's shell with nothing set but a home, an index and a cache
    under ``tmp_path`` (and ``extra``)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ASSISTANT_INDEX": str(index or tmp_path / "index"),
        "ASSISTANT_CACHE_DIR": str(tmp_path / "cache"),
        **extra,
    }


def run_cli(*args, tmp_path, check_exit=None, extra_env=None) -> subprocess.CompletedProcess:
    """``assistant ARGS`` as a user runs it: a real process with a home, an index and a cache
    under ``tmp_path``; it never prints a traceback, and exits ``check_exit`` when given."""
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, **(extra_env or {})),
        cwd=tmp_path,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stderr
    return proc


# -- fakes: each a few lines over the real interfaces -------------------------------------
class ScriptedProvider(Provider):
    """Replies with the next scripted answer, in pieces, and records what it was asked."""

    name = "scripted"
    model = "script"

    def __init__(self, *replies: list[str]):
        self.replies = deque(replies)
        self.calls = []

    def stream(self, question, passages):
        self.calls.append((question, [p.chunk_id for p in passages]))
        yield from self.replies.popleft()


class HashingEmbeddings(MiniLMEmbeddings):
    """A deterministic stand-in for the local model, for tests of bookkeeping rather than
    meaning (what is embedded, stored, counted, kept): each word (as BM25 reads it) adds
    one to a slot chosen by its digest, and the vector is normalised. The same text gives
    the same vector in any process; texts sharing words are near, as with a real model.
    Only ``embed_array`` is replaced: the rest of the embedder's interface is MiniLM's own."""

    model_id = "test-hashing-64"
    dimension = 64

    def __init__(self, model_id: str | None = None):
        super().__init__()
        if model_id:  # posing as a configured model, for code that opens the index by settings
            self.model_id = model_id

    def embed_array(self, texts, progress=None):
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, 0] = 1e-3  # a text with no word is still a direction, not a zero vector
            for word in tokenize(text):
                out[row, hashlib.md5(word.encode()).digest()[0] % self.dimension] += 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress and texts:
            progress(len(texts))
        return out


class CountingEmbeddings(HashingEmbeddings):
    """The hashing stand-in, counting how many texts it was asked to embed."""

    def __init__(self, model_id: str | None = None):
        super().__init__(model_id)
        self.embedded = 0

    def embed_array(self, texts, progress=None):
        self.embedded += len(texts)
        return super().embed_array(texts, progress)


class RecordingChat(ChatProvider):
    """A chat model over the real prompts that replies from a queue (the last reply
    repeats) and records the messages it is sent, those it reads ahead, and the passages
    each answer was written from."""

    name = "recording"
    model = "rec"

    def __init__(self, *replies: str):
        super().__init__(load_prompts())
        self.replies = deque(replies)
        self.sent: list[list[dict]] = []
        self.read: list[list[dict]] = []
        self.seen: list[list] = []

    def stream(self, question, passages):
        self.seen.append(passages)
        yield from super().stream(question, passages)

    def stream_messages(self, messages, max_tokens=None):
        self.sent.append(messages)
        yield self.replies.popleft() if len(self.replies) > 1 else self.replies[0]

    def read_ahead(self, messages):
        self.read.append(messages)
