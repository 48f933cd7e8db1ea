from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import load_settings
from assistant.embeddings import MiniLMEmbeddings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "articles" / "alibaba-pla-white-house-memo.txt"
# The user's assembled local model (1.1 GB): shared with every test's home, since assembling
# it anew per test would take minutes.
_SHARED_MODELS = Path.home() / ".cache" / "assistant" / "models"
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
    monkeypatch.chdir(home)  # a relative path (an assistant.toml, index/) resolves here, not in the caller's folder


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
