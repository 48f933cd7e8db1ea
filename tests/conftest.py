from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.embeddings import MiniLMEmbeddings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "articles" / "alibaba-pla-white-house-memo.txt"
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
    strays = [str(h) for h in (home,) if stop_server(h / ".cache" / "assistant" / "server") is not None]
    assert not strays, f"the test left a model server running under {strays}"


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
