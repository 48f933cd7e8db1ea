import subprocess
import sys

import pytest

from assistant import tokens
from assistant.errors import ResourceError


def test_cl100k_loads_without_network(tmp_path):
    # A fresh interpreter whose sockets all fail: loading must not need the network.
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network disabled in test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from assistant.tokens import encoding\n"
        "enc = encoding()\n"
        "print(enc.name, enc.encode_ordinary('hello world'))\n"
        "import tiktoken\n"
        "print(len(tiktoken.get_encoding('cl100k_base').encode('Alibaba rejected the claims')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no TIKTOKEN_CACHE_DIR, empty home
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == "cl100k_base [15339, 1917]"
    assert int(second) > 3


def test_corrupt_bundled_file_is_reported(tmp_path, monkeypatch):
    bad = tmp_path / "tiktoken"
    bad.mkdir()
    (bad / tokens._CL100K_FILE).write_bytes(b"not a bpe file")
    monkeypatch.setattr(tokens, "TIKTOKEN_DIR", bad)
    tokens.encoding.cache_clear()
    try:
        with pytest.raises(ResourceError, match="corrupt"):
            tokens.encoding()
    finally:
        tokens.encoding.cache_clear()


def test_count_tokens():
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("The White House") == 3
