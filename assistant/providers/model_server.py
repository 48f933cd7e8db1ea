"""Finding, starting, replacing and talking to the local model server (the server itself is
:mod:`.model_daemon`; the processes and files are handled by :mod:`.server_process`, the
HTTP over its Unix socket by :mod:`.server_socket`).

One server per user and folder (``server_dir``, by default ``cache_dir/server``, owner
only): the first command that needs the local model starts it and every later one, in any
terminal, uses it and its prompt cache. Starting is serialised by ``start.lock``: the
command that takes it starts the server and hands the lock to it, and the server lets go
once the model is loaded, so commands that find it loading simply wait. A server holds
``alive.lock`` for its whole life, which tells a live server from a stale pid file
whatever became of the pid.

What a command may find, and what it does (each case one line on stderr, never a hang):

- a server of its configuration, ready or loading: uses it (waits for it);
- a server of another model, configuration or version: asks it to stop, starts its own;
- a server that holds its lock but does not answer: ends it (SIGKILL), starts its own;
- a pid file and no live server (killed, crashed): starts its own;
- a server that stops or dies before any text of an answer: starts one, asks again; after
  text has been shown it is an error line (a retry would repeat the text).

A command interrupted (Ctrl-C) while the server it started is still loading ends that
server; one killed outright is noticed by the server itself, which then exits.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..errors import ProviderError, ProviderUnavailable
from . import server_process
from .model_daemon import PROTOCOL
from .server_socket import (
    READ_TIMEOUT_S,
    STATUS_TIMEOUT_S,
    UNREACHABLE,
    ServerGone,
    ServerSilent,
    call,
    chat_chunks,
)

if TYPE_CHECKING:
    from ..config import Settings
    from . import TokenOdds

__all__ = ["ServerSpec", "ModelServer", "server_folder"]

START_TIMEOUT_S = 180.0  # loading takes 1 to 5 s on 2 cores; far longer means it is stuck
STOP_TIMEOUT_S = 30.0  # a running request ends at its next batch (about 2 s)


def server_folder(settings: "Settings") -> Path:
    return (
        Path(settings.server_dir) if settings.server_dir is not None else Path(settings.cache_dir) / "server"
    )


@dataclass(frozen=True)
class ServerSpec:
    """The server a command needs: where it lives and what it runs."""

    folder: Path
    model_path: Path
    model_name: str
    threads: int
    context: int
    idle_s: float

    @classmethod
    def of(
        cls, settings: "Settings", model_path: Path, model_name: str, threads: int, context: int
    ) -> "ServerSpec":
        return cls(
            server_folder(settings),
            Path(model_path).resolve(),
            model_name,
            threads,
            context,
            settings.server_idle_s,
        )

    @property
    def fingerprint(self) -> str:
        """Everything that makes a server this command's: the code, the engine, the model
        file (as it is on disk now) and the engine's parameters."""
        from .. import __version__
        from .local import ENGINE_TUNING

        engine = _engine_version()
        try:
            info = self.model_path.stat()
            model = [str(self.model_path), info.st_size, info.st_mtime_ns]
        except OSError:
            model = [str(self.model_path)]
        blob = json.dumps(
            [PROTOCOL, __version__, _server_code(), engine, model, self.threads, self.context, ENGINE_TUNING],
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return f"{self.model_name}, {self.threads} threads, {self.context}-token context"


@functools.lru_cache(maxsize=1)
def _server_code() -> str:
    """A hash of the server's own code: a server running older code is another version
    even where the package's version number did not change (an editable install)."""
    from . import model_daemon

    return hashlib.sha256(Path(model_daemon.__file__).read_bytes()).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def _engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xllamacpp")
    except PackageNotFoundError:  # the server will say what is missing
        return "?"


def _describe(status: dict) -> str:
    model = status.get("model") or Path(status.get("model_path", "?")).stem
    return f"{model}, {status.get('threads')} threads, {status.get('context')}-token context"


# Objects that started a server not known to be ready: ended when this process exits
# (Ctrl-C, an error), so that a half-started server does not linger.
_STARTING: "weakref.WeakSet[ModelServer]" = weakref.WeakSet()


@atexit.register
def _end_half_started() -> None:
    for model_server in list(_STARTING):
        model_server._abandon()


def _note(line: str) -> None:
    print(f"note: {line}", file=sys.stderr, flush=True)


class ModelServer:
    """The model server in one folder: its state, and (with a :class:`ServerSpec`)
    starting it and asking it for answers."""

    def __init__(
        self,
        spec: ServerSpec | None = None,
        folder: Path | None = None,
        notify: Callable[[str], None] = _note,
    ):
        if spec is None and folder is None:
            raise ValueError("a spec or a folder")
        self.spec = spec
        self.folder = Path(folder) if folder is not None else spec.folder  # type: ignore[union-attr]
        self.notify = notify
        server_process.prepare_folder(self.folder)
        self.socket_path = self.folder / "llm.sock"
        self.pid_path = self.folder / "server.pid"
        self.log_path = self.folder / "server.log"
        self._fingerprint = spec.fingerprint if spec is not None else None
        self._process: subprocess.Popen | None = None  # a server this object started, until it is ready
        self._lock = threading.Lock()  # one start at a time from this process's threads
        self._pid: int | None = None  # the server's pid, as last seen

    # -- looking -------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, body: dict | None = None, timeout: float = STATUS_TIMEOUT_S
    ) -> tuple[int, dict]:
        return call(self.socket_path, method, path, body, timeout)

    def status(self, timeout: float = STATUS_TIMEOUT_S) -> dict | None:
        """What the server says about itself; None when no server answers."""
        try:
            code, info = self._call("GET", "/status", timeout=timeout)
        except (*UNREACHABLE, ValueError):
            return None
        if code != 200 or not isinstance(info, dict) or "pid" not in info:
            return None
        self._pid = info["pid"]
        return info

    def pid_file(self) -> dict | None:
        try:
            info = json.loads(self.pid_path.read_text())
            return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        """Whether a server process lives in this folder (it holds alive.lock), answering or not."""
        return server_process.alive(self.folder)

    def _ours(self, status: dict | None) -> bool:
        return (
            bool(status)
            and status.get("protocol") == PROTOCOL
            and status.get("fingerprint") == self._fingerprint
            and status.get("state") in ("ready", "loading")
        )

    def is_ready(self) -> bool:
        status = self.status()
        return self._ours(status) and status["state"] == "ready"  # type: ignore[index]

    # -- starting ------------------------------------------------------------------------
    def begin(self) -> bool:
        """See that a server for this command's spec runs or is starting, without waiting
        for it to load; True if it is ready now. Another command starting one right now
        is left to do so."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return False  # ours, loading
            status = self.status()
            if self._ours(status):
                return status["state"] == "ready"  # type: ignore[index]
            fd = server_process.try_start_lock(self.folder)
            if fd is None:
                return False
            try:
                status = self.status()  # again, now that nobody else can start one
                if self._ours(status):
                    return status["state"] == "ready"  # type: ignore[index]
                status = self._clear_the_way(status)
                if self._ours(status):  # it was only slow to answer
                    return status["state"] == "ready"  # type: ignore[index]
                self._spawn(fd)
            finally:
                os.close(fd)  # the server holds its own copy of the lock until it has loaded
            return False

    def _clear_the_way(self, status: dict | None) -> dict | None:
        """End or clean up whatever is in the folder that is not a server for us; the status
        of a server that turns out to be ours after all (it was slow to answer)."""
        recorded = self.pid_file()
        pid = (status or {}).get("pid") or (recorded or {}).get("pid")
        if status is not None and status.get("state") != "stopping":
            if status.get("protocol") == PROTOCOL and _describe(status) == self.spec.describe():  # type: ignore[union-attr]
                why = "another version of the assistant or of its model file"
            else:
                why = f"{_describe(status)}; this command needs {self.spec.describe()}"  # type: ignore[union-attr]
            self.notify(f"replacing the local model server (pid {pid}): it runs {why}")
            self._end(pid, ask=True)
        elif status is not None or self.alive():
            # Stopping (idle, replaced), or alive and silent: give it a moment to finish.
            if not self._wait_gone(STOP_TIMEOUT_S if status is not None else STATUS_TIMEOUT_S):
                if status is None and self._ours(late := self.status(timeout=3 * STATUS_TIMEOUT_S)):
                    return late  # a busy machine: it answers, only slowly
                self.notify(
                    f"the local model server (pid {pid}) does not answer: ending it and starting a new one"
                )
                self._end(pid, ask=False)
            elif (
                status is None and self.pid_file() is not None
            ):  # it was dying (killed): a clean exit removes its pid file
                self.notify(
                    f"the local model server (pid {pid}) had ended without cleaning up (killed or crashed): "
                    "starting a new one"
                )
        elif recorded is not None:
            self.notify(
                f"the local model server (pid {pid}) had ended without cleaning up (killed or crashed): "
                "starting a new one"
            )
        if not self.alive():
            server_process.remove(self.pid_path, self.socket_path)
        return None

    def _wait_gone(self, timeout: float) -> bool:
        return server_process.wait_gone(self.folder, timeout)

    def _end(self, pid: int | None, ask: bool) -> None:
        """Stop the server: politely (it ends its requests at their next batch), then by force."""
        if ask:
            try:
                self._call("POST", "/stop", {"reason": "replaced"})
            except UNREACHABLE:
                pass
            if self._wait_gone(STOP_TIMEOUT_S):
                return
        server_process.kill_server(pid)
        if not self._wait_gone(10.0):
            raise ProviderUnavailable(
                f"cannot end the local model server (pid {pid}) in {self.folder}: "
                f"end it yourself (kill {pid})"
            )

    def _spawn(self, start_lock: int) -> None:
        assert self.spec is not None
        fingerprint = self._fingerprint or ""
        self._process = server_process.spawn_server(
            self.spec, self.folder, fingerprint, start_lock, self.log_path
        )
        _STARTING.add(self)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> dict:
        """Wait until a server for this spec is ready, starting one if needed; its status.
        A server this command started that is still not ready at the timeout is ended.
        (Interrupted by Ctrl-C, the wait just ends: a chat goes on and still wants the
        server; a command that exits ends a server it started that is not ready yet.)"""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if self._ours(status):
                if status["state"] == "ready":  # type: ignore[index]
                    self._process = None  # it outlives this command from now on
                    _STARTING.discard(self)
                    return status  # type: ignore[return-value]
            elif self._process is not None and self._process.poll() is not None:
                failure = server_process.start_failure(self.log_path, self._process)
                self._process = None
                raise ProviderUnavailable(failure)
            else:
                self.begin()
            if time.monotonic() > deadline:
                self._abandon()
                raise ProviderUnavailable(
                    f"the local model server was not ready after {timeout:.0f} s: see {self.log_path}"
                )
            time.sleep(0.05)

    def _abandon(self) -> None:
        """End the server this object started if it is not ready yet."""
        started, self._process = self._process, None
        _STARTING.discard(self)
        if started is None or started.poll() is not None:
            return
        if self._ours(status := self.status(timeout=1.0)) and status["state"] == "ready":  # type: ignore[index]
            return  # it made it: others may use it
        server_process.kill_started(started)
        if (self.pid_file() or {}).get("pid") == started.pid:
            server_process.remove(self.pid_path)
        if not self.alive():
            server_process.remove(self.socket_path)

    # -- stopping ------------------------------------------------------------------------
    def stop(self) -> int | None:
        """End the server (its running requests stop at their next batch); the pid it had,
        or None if none ran. Stale files are cleaned up either way."""
        status = self.status()
        pid = (status or {}).get("pid") or (self.pid_file() or {}).get("pid")
        if status is None and not self.alive():
            server_process.remove(self.pid_path, self.socket_path)
            return None
        self._end(pid, ask=status is not None)
        server_process.remove(self.pid_path, self.socket_path)
        return pid

    # -- answering -----------------------------------------------------------------------
    def stream_text(
        self,
        request: dict,
        give_way: bool,
        closed: threading.Event,
        alternatives: "list[TokenOdds] | None",
        on_chunk: Callable[[dict], None] | None = None,
    ) -> Iterator[str]:
        """The text of the server's reply to ``request`` (a :func:`.local.chat_request`).
        A server that is gone, or goes before any text, is started again and asked again
        (once); one that goes mid-answer is an error. A read-ahead (``give_way``) also
        ends when ``closed`` is set. ``on_chunk`` is shown every chunk the server sends."""
        from contextlib import closing

        from .local import chunk_text

        body = {**request, "read_ahead": give_way}
        for attempt in (1, 2):
            self.wait_ready()
            wrote = False
            try:
                # closing the connection stops the request
                with closing(chat_chunks(self.socket_path, body, self.log_path)) as chunks:
                    for chunk in chunks:
                        if give_way and closed.is_set():
                            return
                        if "error" in chunk:
                            error = chunk["error"]
                            raise ProviderError(
                                "local model failed: "
                                f"{error.get('message', error) if isinstance(error, dict) else error}"
                            )
                        if on_chunk is not None:
                            on_chunk(chunk)
                        text = chunk_text(chunk, alternatives)
                        if text:
                            wrote = True
                            yield text
                return
            except ServerSilent:
                raise self._hung() from None
            except ServerGone:
                if wrote:
                    raise ProviderError(
                        f"the local model server (pid {self._pid}) stopped while answering "
                        "(the partial answer was dropped): ask again"
                    ) from None
                if attempt == 2:
                    raise ProviderError(
                        f"the local model server (pid {self._pid}) stopped before answering twice: "
                        f"see {self.log_path}"
                    ) from None

    def _hung(self) -> ProviderError:
        return ProviderError(
            f"the local model server (pid {self._pid}) sent nothing for {READ_TIMEOUT_S:.0f} s: "
            "`assistant server stop` ends it (the next command starts a new one)"
        )


def server_report(settings: "Settings") -> dict:
    """What ``assistant server status`` shows: whether a server runs in the configured
    folder and, if it answers, what it says about itself."""
    model_server = ModelServer(folder=server_folder(settings))
    status = model_server.status()
    recorded = model_server.pid_file()
    report: dict = {
        "running": status is not None,
        "folder": str(model_server.folder),
        "socket": str(model_server.socket_path),
    }
    if status is not None:
        report.update(status)
        report["up_s"] = round(time.time() - status["started_at"], 1)
    elif model_server.alive():
        report.update(running=True, state="not answering", pid=(recorded or {}).get("pid"))
    elif recorded is not None:
        report.update(stale_pid=recorded["pid"])
    return report
