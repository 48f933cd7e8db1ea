"""The local model server itself: one process per user that keeps the model loaded, with
its prompt cache, for every command (the client side, which starts and finds it, is
:mod:`.model_server`).

    python -m assistant.providers.model_daemon --dir DIR --model FILE --threads N ...

It runs llama.cpp's engine in-process (xllamacpp) behind a small HTTP front on a Unix
socket in DIR (the folder is 0700, the socket 0600: only this user can connect):

- ``GET /status``: what runs, since when, how idle (JSON);
- ``POST /stop``: end now;
- ``POST /v1/chat/completions``: a llama.cpp chat-completion request, answered as a stream
  of ``data: {chunk}`` events (prompt-progress chunks included) and a ``data: [DONE]``.
  With ``"read_ahead": true`` the request gives way (stops at its next batch) as soon as
  another request that is not a read-ahead is waiting, from any client.

A request stops at the engine's next chunk when its client goes away (a write fails), so
a command stopped with Ctrl-C leaves no work behind. While a request runs, a comment line
goes out every few seconds, so a client can tell a busy server from a hung one.

The server stops after ``--idle-s`` without requests, on ``/stop`` or SIGTERM, once the
requests running have ended (each at its next batch). Before it is ready it also stops
when the command that started it has gone (Ctrl-C or kill while it loaded): a half-started
server never lingers (the kernel kills it if its command is killed; a command that exits
ends it itself, see model_server). Files in DIR: ``alive.lock`` (held for the server's whole life),
``server.pid`` (its pid and what it runs), ``llm.sock``, ``server.log`` (its output; a
start-up failure is its last ``error:`` line).
"""

from __future__ import annotations

import argparse
import fcntl
import http.server
import json
import os
import signal
import socketserver
import sys
import threading
import time
from pathlib import Path
from typing import Callable

PING_S = 5.0  # a comment line this often while a request runs and writes nothing else
PROTOCOL = 1  # bumped when the client and the server would no longer understand each other


def _memory_mb() -> tuple[float | None, float | None]:
    """This process's resident memory now and at its peak, in MB (Linux)."""
    values: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        pass
    return values.get("VmRSS"), values.get("VmHWM")


class _State:
    """What the front and the engine share."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.lock = threading.Lock()
        self.engine = None
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.stop_reason = ""
        self.active = 0  # requests in the engine (or waiting for it)
        self.answering = 0  # of those, the ones that are not read-aheads
        self.served = 0
        self.prompt_read = 0  # prompt tokens the model read
        self.prompt_cached = 0  # prompt tokens it found in its cache instead
        self.started_at = time.time()
        self.ready_at: float | None = None
        self.last_used = time.monotonic()

    def stop(self, reason: str) -> None:
        with self.lock:
            if not self.stopping.is_set():
                self.stop_reason = reason
                self.stopping.set()

    def status(self) -> dict:
        rss, peak = _memory_mb()
        with self.lock:
            idle = 0.0 if self.active else time.monotonic() - self.last_used
            return {
                "protocol": PROTOCOL,
                "state": "stopping"
                if self.stopping.is_set()
                else "ready"
                if self.ready.is_set()
                else "loading",
                "pid": os.getpid(),
                "fingerprint": self.args.fingerprint,
                "model": self.args.name,
                "model_path": self.args.model,
                "threads": self.args.threads,
                "context": self.args.context,
                "started_at": self.started_at,
                "load_s": None if self.ready_at is None else round(self.ready_at - self.started_at, 2),
                "idle_s": round(idle, 1),
                "idle_stop_s": self.args.idle_s,
                "active": self.active,
                "served": self.served,
                "prompt_tokens_read": self.prompt_read,
                "prompt_tokens_cached": self.prompt_cached,
                "rss_mb": rss,
                "peak_rss_mb": peak,
            }


class _Front(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, state: _State):
        self.state = state
        super().__init__(path, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-reply is normal (Ctrl-C); anything else gets a line."""
        error = sys.exc_info()[1]
        if not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            print(f"request failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Front
    server_version = "assistant-model-server"

    def log_message(self, format, *args) -> None:  # noqa: A002 - a client per line would flood the log
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/status":
            self._json(200, self.server.state.status())
        else:
            self._json(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        state = self.server.state
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, OSError):
            self._json(400, {"error": "the request is not JSON"})
            return
        if self.path == "/stop":
            self._json(200, {"stopping": True, "pid": os.getpid()})
            state.stop(str(body.get("reason") or "asked to stop"))
        elif self.path == "/v1/chat/completions":
            self._chat(body)
        else:
            self._json(404, {"error": f"no such path {self.path}"})

    def _chat(self, request: dict) -> None:
        state = self.server.state
        read_ahead = bool(request.pop("read_ahead", False))
        with state.lock:
            if state.stopping.is_set() or not state.ready.is_set():
                refused = "stopping" if state.stopping.is_set() else "loading"
            else:
                refused = ""
                state.active += 1
                state.answering += 0 if read_ahead else 1
        if refused:
            self._json(503, {"error": refused})
            return
        try:
            self._stream(request, read_ahead)
        finally:
            with state.lock:
                state.active -= 1
                state.answering -= 0 if read_ahead else 1
                state.served += 1
                state.last_used = time.monotonic()

    def _stream(self, request: dict, read_ahead: bool) -> None:
        state = self.server.state
        write_lock = threading.Lock()
        gone = threading.Event()  # the client closed the connection
        done = threading.Event()
        last_write = [time.monotonic()]

        def send(data: bytes) -> bool:
            with write_lock:
                if gone.is_set():
                    return False
                try:
                    self.wfile.write(data)
                    last_write[0] = time.monotonic()
                    return True
                except OSError:
                    gone.set()
                    return False

        def ping() -> None:
            while not done.wait(1.0):
                if time.monotonic() - last_write[0] >= PING_S:
                    send(b": busy\n\n")

        def on_chunk(chunk) -> bool:
            """Forward one chunk; True stops the request at this point."""
            if isinstance(chunk, dict) and chunk:
                send(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
                timings = chunk.get("timings")
                if isinstance(timings, dict):
                    with state.lock:
                        state.prompt_read += int(timings.get("prompt_n") or 0)
                        state.prompt_cached += int(timings.get("cache_n") or 0)
            return gone.is_set() or state.stopping.is_set() or (read_ahead and state.answering > 0)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pinger = threading.Thread(target=ping, name="ping", daemon=True)
        pinger.start()
        try:
            request["stream"] = True
            result = state.engine.handle_chat_completions(request, on_chunk)
            if isinstance(result, dict) and "error" in result:
                on_chunk({"error": result["error"]})
        except Exception as exc:  # the engine reports some failures as exceptions
            on_chunk({"error": {"message": str(exc)}})
        finally:
            done.set()
            pinger.join()
        if state.stopping.is_set() and not gone.is_set():
            send(b'data: {"error": {"message": "the model server stopped"}}\n\n')
        send(b"data: [DONE]\n\n")


def _die_with_parent(parent: int, on: bool) -> None:
    """Linux: have the kernel kill this process when the command that started it ends (on),
    or no longer (off, once ready). Loading the model holds the GIL, so no thread of ours
    could notice meanwhile; elsewhere _watch_parent notices once the load is done."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL if on else 0, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if on and os.getppid() != parent:  # it ended before we asked
        os._exit(3)


def _watch_parent(parent: int, state: _State, cleanup) -> None:
    """Until the server is ready: exit at once if the command that started it is gone
    (interrupted or killed while the model loaded), so that nothing half-started lingers."""
    while not state.ready.wait(0.2):
        if os.getppid() != parent:
            print(
                "error: the command that started the model server ended before it was ready",
                file=sys.stderr,
                flush=True,
            )
            cleanup()
            os._exit(3)  # the model may be loading on the main thread: no waiting for it


def _watch_idle(state: _State) -> None:
    step = min(1.0, state.args.idle_s / 4)
    while not state.stopping.wait(step):
        with state.lock:
            idle = state.active == 0 and time.monotonic() - state.last_used >= state.args.idle_s
        if idle:
            state.stop(f"idle for {state.args.idle_s:g} s")


def _write_pid_file(folder: Path, state: _State) -> None:
    info = {
        "pid": os.getpid(),
        "fingerprint": state.args.fingerprint,
        "model": state.args.name,
        "started_at": state.started_at,
    }
    partial = folder / f".server.pid.{os.getpid()}"
    partial.write_text(json.dumps(info))
    os.replace(partial, folder / "server.pid")


def _remove_own(path: Path, check) -> None:
    try:
        if check(path):
            path.unlink()
    except OSError:
        pass


def _hold_alive_lock(folder: Path):
    """Take ``alive.lock`` for the server's whole life (the open file holds it); None when
    another server holds it."""
    alive = open(folder / "alive.lock", "a")
    deadline = time.monotonic() + 2.0  # a command looking whether a server lives holds it for an instant
    while True:
        try:
            fcntl.flock(alive, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return alive
        except BlockingIOError:
            if time.monotonic() > deadline:
                alive.close()
                return None
            time.sleep(0.02)


def _listen(folder: Path, state: _State) -> tuple[_Front, Callable[[], None]] | None:
    """The front on ``llm.sock``, and what removes this server's files when it ends; None
    (with an ``error:`` line) when it cannot listen."""
    sock_path = folder / "llm.sock"
    ours = lambda p: json.loads(p.read_text())["pid"] == os.getpid()  # noqa: E731
    try:
        sock_path.unlink(missing_ok=True)  # a dead server's: we hold the alive lock
        front = _Front(str(sock_path), state)
        os.chmod(sock_path, 0o600)
    except OSError as exc:
        print(
            f"error: the model server cannot listen on {sock_path}: {exc.strerror or exc}",
            file=sys.stderr,
            flush=True,
        )
        _remove_own(folder / "server.pid", ours)
        return None
    sock_inode = sock_path.stat().st_ino

    def remove_files() -> None:
        _remove_own(sock_path, lambda p: p.stat().st_ino == sock_inode)
        _remove_own(folder / "server.pid", ours)

    return front, remove_files


def _load(args: argparse.Namespace, state: _State) -> int:
    """Load the model into the engine; the exit code so far (1 if it failed to load)."""
    from ..errors import AssistantError
    from .local import load_engine

    try:
        state.engine = load_engine(Path(args.model), args.threads, args.context)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        state.stop("failed to load")
        return 1
    if args.parent:
        _die_with_parent(args.parent, on=False)  # from now on the server outlives its command
    state.ready_at = time.time()
    state.ready.set()
    print(f"ready after {state.ready_at - state.started_at:.1f} s", flush=True)
    return 0


def _drain(front: _Front, state: _State) -> None:
    """Stop answering new connections, and let the running requests end (each at its next
    batch, within a minute)."""
    front.shutdown()
    front.server_close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with state.lock:
            if state.active == 0:
                break
        time.sleep(0.05)


def _background(target: Callable, name: str, *args, **kwargs) -> None:
    threading.Thread(target=target, args=args, kwargs=kwargs, name=name, daemon=True).start()


def serve(args: argparse.Namespace) -> int:
    os.umask(0o077)
    folder = Path(args.dir)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    loading = f"loading {args.model} ({args.threads} threads, context {args.context})"
    print(f"model server pid {os.getpid()}: {started}, {loading}", flush=True)
    alive = _hold_alive_lock(folder)
    if alive is None:
        print("error: another model server is already running here", file=sys.stderr, flush=True)
        return 3
    state = _State(args)
    _write_pid_file(folder, state)
    listening = _listen(folder, state)
    if listening is None:
        return 1
    front, remove_files = listening
    _background(front.serve_forever, "front", poll_interval=0.2)
    if args.parent:
        _die_with_parent(args.parent, on=True)
        _background(_watch_parent, "parent", args.parent, state, remove_files)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: state.stop("signalled"))
    code = _load(args, state)
    if args.start_lock_fd is not None:
        os.close(args.start_lock_fd)  # commands waiting to start a server may look again
    _background(_watch_idle, "idle", state)
    while not state.stopping.wait(1.0):
        pass
    print(f"stopping: {state.stop_reason}", flush=True)
    _drain(front, state)
    remove_files()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the engine's teardown at interpreter exit: nothing is left to save, and
    # llama.cpp aborts a process that exits while its threads still run.
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", required=True, help="The server's folder (0700).")
    parser.add_argument("--model", required=True, help="The GGUF file.")
    parser.add_argument("--name", default="", help="The model's name, for status.")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--context", type=int, required=True)
    parser.add_argument("--idle-s", type=float, default=300.0, help="Stop after this long without requests.")
    parser.add_argument(
        "--fingerprint",
        required=True,
        help="What clients check to know this server runs their configuration.",
    )
    parser.add_argument(
        "--parent", type=int, default=0, help="Stop if this process ends before the model is loaded."
    )
    parser.add_argument(
        "--start-lock-fd", type=int, help="An inherited lock, held until the model is loaded."
    )
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
