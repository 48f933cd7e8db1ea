"""HTTP to the local model server over its Unix socket: one JSON request and reply
(``/status``, ``/stop``), or a chat request's stream of chunks. What the server is and when
to start it is :mod:`.model_server`'s business; this module only talks."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Iterator

from ..errors import ProviderError
from .model_daemon import PING_S

__all__ = ["UnixConnection", "ServerGone", "ServerSilent", "UNREACHABLE", "call", "chat_chunks"]

STATUS_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 6 * PING_S  # the server writes at least every PING_S while it works

UNREACHABLE = (OSError, http.client.HTTPException)  # refused, reset, no socket file, timeouts, broken replies


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("model-server", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class ServerGone(Exception):
    """The server is not there, stopped, or went away before the reply ended."""


class ServerSilent(Exception):
    """The server sent nothing, not even a keep-alive line, for ``READ_TIMEOUT_S``: hung."""


def call(
    socket_path: Path, method: str, path: str, body: dict | None = None, timeout: float = STATUS_TIMEOUT_S
) -> tuple[int, dict]:
    """One request and its JSON reply: (HTTP status, body). A socket file that is not there
    is a FileNotFoundError (one of ``UNREACHABLE``), without trying to connect."""
    if not socket_path.exists():
        raise FileNotFoundError(socket_path)
    connection = UnixConnection(socket_path, timeout)
    try:
        data = None if body is None else json.dumps(body)
        connection.request(
            method, path, body=data, headers={"Content-Type": "application/json"} if data else {}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def chat_chunks(socket_path: Path, body: dict, log_path: Path) -> Iterator[dict]:
    """The server's streamed chunks for one chat request ({} for a keep-alive line); the
    connection closes when the caller stops reading, which stops the request. A server
    that is not there or goes away is :class:`ServerGone`, one that falls silent
    :class:`ServerSilent`; a reply that makes no sense is a ProviderError (``log_path``
    is where the server says why)."""
    connection = UnixConnection(socket_path, READ_TIMEOUT_S)
    try:
        try:
            connection.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
        except socket.timeout:
            raise ServerSilent() from None
        except UNREACHABLE:
            raise ServerGone() from None
        if response.status == 503:
            raise ServerGone()
        if response.status != 200:
            raise ProviderError(f"the local model server answered HTTP {response.status}: see {log_path}")
        yield from _events(response)
    finally:
        connection.close()


def _events(response: http.client.HTTPResponse) -> Iterator[dict]:
    """The chunks of a ``data:`` event stream, up to ``data: [DONE]``."""
    while True:
        try:
            line = response.readline()
        except socket.timeout:
            raise ServerSilent() from None
        except UNREACHABLE:
            raise ServerGone() from None
        if not line:
            raise ServerGone()  # closed before [DONE]
        line = line.strip()
        if line.startswith(b":"):
            yield {}
        elif line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ProviderError("the local model server sent a reply that is not JSON") from None
            yield chunk if isinstance(chunk, dict) else {}
