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
