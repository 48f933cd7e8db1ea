"""A small OpenAI-compatible chat server that misbehaves on request, for provider tests.

It speaks just enough of the protocol (``POST /v1/chat/completions``, streamed as SSE or
not, and ``GET /v1/models``) and answers each request in a *mode*. Tests script the modes
of the next requests; once the script runs out, every request gets the default mode::

    with FaultServer(answer="Alibaba denied it [1].") as srv:
        srv.script(["429", "ok"])           # then "ok" for ever after
        ... point the client at srv.base_url ...
        assert len(srv.chat_requests) == 2

Modes (an optional ``:number`` sets the mode's parameter):

    ok                  the answer, word by word (``chunk_delay`` seconds between chunks)
    slow_first_byte:S   sleep S seconds (default 2) before the status line, then as ok
    hang                accept the request and never answer (until the server stops)
    429:R               HTTP 429 with ``Retry-After: R`` (default 1)
    500, 502, 503, 504  that HTTP status with a JSON error body
    malformed_json      HTTP 200, then an SSE line ``data: {not json``
    cut_stream          a few chunks of the answer, then the socket closes in the middle
                        of a chunked-encoding chunk (no finish_reason, no [DONE])
    no_finish           a few chunks, then a clean end of body without finish_reason or [DONE]
    wrong_key           HTTP 401 unless ``Authorization: Bearer <expected_key>``, else as ok

Every request is recorded (method, path, headers, JSON body, monotonic arrival time).
For "connection refused", point the client at a port with nothing listening
(``tests.conftest.free_port()``).

Also runs in the foreground, e.g. as a slow answering server for a Ctrl-C test::

    python tests/fault_server.py --port 8099 --mode ok --chunk-delay 0.5 --answer "..."
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = (
    "ok",
    "slow_first_byte",
    "hang",
    "429",
    "500",
    "502",
    "503",
    "504",
    "malformed_json",
    "cut_stream",
    "no_finish",
    "wrong_key",
)
DEFAULT_ANSWER = "Alibaba rejected the White House's claims [1]."


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict | None
    time: float  # time.monotonic() when the request line arrived
    mode: str = ""


@dataclass
class FaultServer:
    answer: str = DEFAULT_ANSWER
    chunk_delay: float = 0.0
    expected_key: str = "sk-expected"
    model: str = "fault-model"
    port: int = 0  # 0: any free port
    default: str = "ok"
    verbose: bool = False
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self):
        self._script: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- test API ---------------------------------------------------------------------
    def script(self, modes: list[str], then: str | None = None) -> None:
        """Answer the next requests in these modes, then in ``then`` (default: unchanged)."""
        for mode in [*modes, then or self.default]:
            if mode.split(":")[0] not in MODES:
                raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self._script = deque(modes)
            if then:
                self.default = then

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def gaps(self) -> list[float]:
        """Seconds between consecutive chat requests (the client's backoff)."""
        times = [r.time for r in self.chat_requests]
        return [b - a for a, b in zip(times, times[1:])]

    def start(self) -> "FaultServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a hung handler must not block stop()
        self._httpd.fault = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fault-server", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_mode(self) -> str:
        with self._lock:
            return self._script.popleft() if self._script else self.default


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked bodies, so a cut stream is detectably incomplete

    @property
    def fault(self) -> FaultServer:
        return self.server.fault  # type: ignore[attr-defined]

    def log_message(self, format, *args):
        if self.fault.verbose:
            sys.stderr.write(f"fault server: {format % args}\n")

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):  # the client went away: fine
            self.close_connection = True

    def do_GET(self):
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.fault.model, "object": "model", "owned_by": "tests"}],
                },
            )
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._record(body)
            return self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        mode = self.fault._next_mode()
        self._record(body, mode)
        name, _, arg = mode.partition(":")
        param = float(arg) if arg else None
        stream = bool(body and body.get("stream"))

        if name == "hang":
            self.fault._stopping.wait()
            self.close_connection = True
            return
        if name == "slow_first_byte":
            time.sleep(2.0 if param is None else param)
        if name == "wrong_key" and self.headers.get("Authorization") != f"Bearer {self.fault.expected_key}":
            # Like some real servers, echo the key: a client must not show server messages as they are.
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            error = {
                "message": f"Incorrect API key provided: {sent}.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return self._json(401, {"error": error})
        if name == "429":
            retry_after = "1" if param is None else f"{param:g}"
            return self._json(
                429,
                {"error": {"message": "Rate limit reached.", "type": "rate_limit_error"}},
                {"Retry-After": retry_after},
            )
        if name in ("500", "502", "503", "504"):
            return self._json(
                int(name), {"error": {"message": f"server error {name}", "type": "server_error"}}
            )
        if not stream:
            return self._json(200, self._completion())

        self._start_sse()
        if name == "malformed_json":
            self._chunk(b"data: {not json\n\n")
            self._chunk(b"data: [DONE]\n\n")
            return self._end_chunks()
        pieces = re.findall(r"\S+\s*", self.fault.answer) or [""]
        if name in ("cut_stream", "no_finish"):
            pieces = pieces[: max(1, len(pieces) // 2)]
        for i, piece in enumerate(pieces):
            if i and self.fault.chunk_delay:
                time.sleep(self.fault.chunk_delay)
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            self._event(self._chunk_json(delta, None))
        if name == "cut_stream":
            # Announce a 256-byte chunk, send a few bytes of it, and close the socket.
            self.wfile.write(b'100\r\ndata: {"id"')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if name == "no_finish":
            return self._end_chunks()
        self._event(self._chunk_json({}, "stop"))
        self._chunk(b"data: [DONE]\n\n")
        self._end_chunks()

    # -- helpers ----------------------------------------------------------------------
    def _record(self, body, mode=""):
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fault.requests.append(Recorded(self.command, self.path, headers, body, time.monotonic(), mode))

    def _json(self, status: int, data: dict, headers: dict[str, str] | None = None) -> None:
        blob = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(blob)

    def _completion(self) -> dict:
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.fault.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.fault.answer},
                    "finish_reason": "stop",
                }
            ],
        }

    def _chunk_json(self, delta: dict, finish_reason: str | None) -> dict:
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.fault.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, data: dict) -> None:
        self._chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A misbehaving OpenAI-compatible server (foreground).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--mode", default="ok", help=f"mode of every request: {', '.join(MODES)} (':N' sets a parameter)"
    )
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks")
    parser.add_argument("--answer", default=DEFAULT_ANSWER)
    parser.add_argument("--expected-key", default="sk-expected", help="the key mode wrong_key accepts")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    if args.mode.split(":")[0] not in MODES:
        parser.error(f"unknown mode {args.mode!r}")
    server = FaultServer(
        args.answer,
        args.chunk_delay,
        args.expected_key,
        port=args.port,
        default=args.mode,
        verbose=args.verbose,
    )
    with server:
        print(f"fault server ({args.mode}) listening at {server.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
