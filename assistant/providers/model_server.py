"""Finding, starting, replacing and talking to the local model server (the server itself is
:mod:`.model_daemon`).

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
import fcntl
import functools
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..errors import ConfigError, ProviderError, ProviderUnavailable
from .model_daemon import PING_S, PROTOCOL

if TYPE_CHECKING:
    from ..config import Settings
    from . import TokenOdds

__all__ = ["ServerSpec", "ModelServer", "server_folder"]

START_TIMEOUT_S = 180.0  # loading takes 1 to 5 s on 2 cores; far longer means it is stuck
STATUS_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 6 * PING_S  # the server writes at least every PING_S while it works
STOP_TIMEOUT_S = 30.0  # a running request ends at its next batch (about 2 s)
_MAX_SOCKET_PATH = 107  # bytes, on Linux (sun_path)
_MAX_LOG_BYTES = 1 << 20


def server_folder(settings: "Settings") -> Path:
    return Path(settings.server_dir) if settings.server_dir is not None else Path(settings.cache_dir) / "server"


def _prepare_folder(folder: Path) -> None:
    """The folder, made if needed, owned by this user and closed to everyone else."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if info.st_uid != os.getuid():
            raise ConfigError(f"the model server folder {folder} belongs to another user: set ASSISTANT_SERVER_DIR to a folder of yours")
        if info.st_mode & 0o077:
            folder.chmod(0o700)
    except OSError as exc:
        raise ConfigError(f"cannot use the model server folder {folder}: {exc.strerror or exc}") from None
    length = len(os.fsencode(folder / "llm.sock"))
    if length > _MAX_SOCKET_PATH:
        raise ConfigError(
            f"the model server folder {folder} is too deep for a Unix socket ({length} bytes, at most "
            f"{_MAX_SOCKET_PATH}): set ASSISTANT_SERVER_DIR to a shorter path"
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
    def of(cls, settings: "Settings", model_path: Path, model_name: str, threads: int, context: int) -> "ServerSpec":
        return cls(server_folder(settings), Path(model_path).resolve(), model_name, threads, context, settings.server_idle_s)

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
        blob = json.dumps([PROTOCOL, __version__, _server_code(), engine, model, self.threads, self.context, ENGINE_TUNING], sort_keys=True)
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
    return f"{status.get('model') or Path(status.get('model_path', '?')).stem}, {status.get('threads')} threads, {status.get('context')}-token context"


class _UnixConnection(http.client.HTTPConnection):
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


class _Gone(Exception):
    """The server is not there, stopped, or went away before the reply ended."""


_UNREACHABLE = (OSError, http.client.HTTPException)  # refused, reset, no socket file, timeouts, broken replies


# Servers started by this process: kept so that they are reaped when they end (a chat
# outlives the server it started) rather than left as zombies.
_CHILDREN: list[subprocess.Popen] = []
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

    def __init__(self, spec: ServerSpec | None = None, folder: Path | None = None, notify: Callable[[str], None] = _note):
        if spec is None and folder is None:
            raise ValueError("a spec or a folder")
        self.spec = spec
        self.folder = Path(folder) if folder is not None else spec.folder  # type: ignore[union-attr]
        self.notify = notify
        _prepare_folder(self.folder)
        self.socket_path = self.folder / "llm.sock"
        self.pid_path = self.folder / "server.pid"
        self.log_path = self.folder / "server.log"
        self._fingerprint = spec.fingerprint if spec is not None else None
        self._process: subprocess.Popen | None = None  # a server this object started, until it is ready
        self._lock = threading.Lock()  # one start at a time from this process's threads
        self._pid: int | None = None  # the server's pid, as last seen

    # -- looking -------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = STATUS_TIMEOUT_S) -> tuple[int, dict]:
        if not self.socket_path.exists():
            raise FileNotFoundError(self.socket_path)
        connection = _UnixConnection(self.socket_path, timeout)
        try:
            data = None if body is None else json.dumps(body)
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            connection.close()

    def status(self, timeout: float = STATUS_TIMEOUT_S) -> dict | None:
        """What the server says about itself; None when no server answers."""
        try:
            code, info = self._call("GET", "/status", timeout=timeout)
        except (*_UNREACHABLE, ValueError):
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
        try:
            fd = os.open(self.folder / "alive.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also lets go of the lock, if we got it
        return False

    def _ours(self, status: dict | None) -> bool:
        return bool(status) and status.get("protocol") == PROTOCOL and status.get("fingerprint") == self._fingerprint and status.get("state") in ("ready", "loading")

    def is_ready(self) -> bool:
        status = self.status()
        return self._ours(status) and status["state"] == "ready"  # type: ignore[index]

    # -- starting ------------------------------------------------------------------------
    def _try_start_lock(self) -> int | None:
        fd = os.open(self.folder / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

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
            fd = self._try_start_lock()
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
                self.notify(f"the local model server (pid {pid}) does not answer: ending it and starting a new one")
                self._end(pid, ask=False)
            elif status is None and self.pid_file() is not None:  # it was dying (killed): a clean exit removes its pid file
                self.notify(f"the local model server (pid {pid}) had ended without cleaning up (killed or crashed): starting a new one")
        elif recorded is not None:
            self.notify(f"the local model server (pid {pid}) had ended without cleaning up (killed or crashed): starting a new one")
        if not self.alive():
            _remove(self.pid_path, self.socket_path)
        return None

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _end(self, pid: int | None, ask: bool) -> None:
        """Stop the server: politely (it ends its requests at their next batch), then by force."""
        if ask:
            try:
                self._call("POST", "/stop", {"reason": "replaced"})
            except _UNREACHABLE:
                pass
            if self._wait_gone(STOP_TIMEOUT_S):
                return
        if pid and _is_model_daemon(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not self._wait_gone(10.0):
            raise ProviderUnavailable(f"cannot end the local model server (pid {pid}) in {self.folder}: end it yourself (kill {pid})")

    def _spawn(self, start_lock: int) -> None:
        spec = self.spec
        assert spec is not None
        root = str(Path(__file__).resolve().parents[2])  # the folder holding this package: the server runs this very code
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        command = [
            sys.executable, "-m", "assistant.providers.model_daemon",
            "--dir", str(self.folder), "--model", str(spec.model_path), "--name", spec.model_name,
            "--threads", str(spec.threads), "--context", str(spec.context), "--idle-s", f"{spec.idle_s:g}",
            "--fingerprint", self._fingerprint or "", "--parent", str(os.getpid()), "--start-lock-fd", str(start_lock),
        ]  # fmt: skip
        try:  # the log keeps the last servers' lines (starts, stops and why), within a bound
            if self.log_path.stat().st_size > _MAX_LOG_BYTES:
                self.log_path.unlink()
        except OSError:
            pass
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _CHILDREN[:] = [child for child in _CHILDREN if child.poll() is None]  # reaps those that ended
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(start_lock,),
                start_new_session=True,  # a Ctrl-C at the terminal is the command's, not the server's
                cwd=self.folder,
                env=env,
            )
        except OSError as exc:
            raise ProviderUnavailable(f"cannot start the local model server: {exc.strerror or exc}") from None
        finally:
            os.close(log)
        _CHILDREN.append(self._process)
        _STARTING.add(self)

    def _start_failure(self) -> str:
        """Why the server we started exited: its last ``error:`` line."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        pid = self._process.pid if self._process is not None else None
        mine = [i for i, line in enumerate(lines) if line.startswith(f"model server pid {pid}:")]
        lines = lines[mine[-1] :] if mine else lines[-20:]  # this server's lines (the log is appended to)
        errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
        if errors:
            return errors[-1]
        code = self._process.returncode if self._process is not None else "?"
        return f"the local model server exited (code {code}) before it was ready: see {self.log_path}"

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
                failure = self._start_failure()
                self._process = None
                raise ProviderUnavailable(failure)
            else:
                self.begin()
            if time.monotonic() > deadline:
                self._abandon()
                raise ProviderUnavailable(f"the local model server was not ready after {timeout:.0f} s: see {self.log_path}")
            time.sleep(0.05)

    def _abandon(self) -> None:
        """End the server this object started if it is not ready yet."""
        process, self._process = self._process, None
        _STARTING.discard(self)
        if process is None or process.poll() is not None:
            return
        if self._ours(status := self.status(timeout=1.0)) and status["state"] == "ready":  # type: ignore[index]
            return  # it made it: others may use it
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        if (self.pid_file() or {}).get("pid") == process.pid:
            _remove(self.pid_path)
        if not self.alive():
            _remove(self.socket_path)

    # -- stopping ------------------------------------------------------------------------
    def stop(self) -> int | None:
        """End the server (its running requests stop at their next batch); the pid it had,
        or None if none ran. Stale files are cleaned up either way."""
        status = self.status()
        pid = (status or {}).get("pid") or (self.pid_file() or {}).get("pid")
        if status is None and not self.alive():
            _remove(self.pid_path, self.socket_path)
            return None
        self._end(pid, ask=status is not None)
        _remove(self.pid_path, self.socket_path)
        return pid

    # -- answering -----------------------------------------------------------------------
    def stream_text(
        self, request: dict, give_way: bool, closed: threading.Event, alternatives: "list[TokenOdds] | None"
    ) -> Iterator[str]:
        """The text of the server's reply to ``request`` (a :func:`.local.chat_request`).
        A server that is gone, or goes before any text, is started again and asked again
        (once); one that goes mid-answer is an error. A read-ahead (``give_way``) also
        ends when ``closed`` is set."""
        from contextlib import closing

        from .local import chunk_text

        body = {**request, "read_ahead": give_way}
        for attempt in (1, 2):
            self.wait_ready()
            wrote = False
            try:
                with closing(self._chat(body)) as chunks:  # closing the connection stops the request
                    for chunk in chunks:
                        if give_way and closed.is_set():
                            return
                        if "error" in chunk:
                            error = chunk["error"]
                            raise ProviderError(f"local model failed: {error.get('message', error) if isinstance(error, dict) else error}")
                        text = chunk_text(chunk, alternatives)
                        if text:
                            wrote = True
                            yield text
                return
            except _Gone:
                if wrote:
                    raise ProviderError(
                        f"the local model server (pid {self._pid}) stopped while answering (the partial answer was dropped): ask again"
                    ) from None
                if attempt == 2:
                    raise ProviderError(f"the local model server (pid {self._pid}) stopped before answering twice: see {self.log_path}") from None

    def _chat(self, body: dict) -> Iterator[dict]:
        """The server's streamed chunks for one request ({} for a keep-alive line); the
        connection closes when the caller stops reading, which stops the request."""
        connection = _UnixConnection(self.socket_path, READ_TIMEOUT_S)
        try:
            try:
                connection.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
                response = connection.getresponse()
            except socket.timeout:
                raise self._hung() from None
            except _UNREACHABLE:
                raise _Gone() from None
            if response.status == 503:
                raise _Gone()
            if response.status != 200:
                raise ProviderError(f"the local model server answered HTTP {response.status}: see {self.log_path}")
            while True:
                try:
                    line = response.readline()
                except socket.timeout:
                    raise self._hung() from None
                except _UNREACHABLE:
                    raise _Gone() from None
                if not line:
                    raise _Gone()  # closed before [DONE]
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
        finally:
            connection.close()

    def _hung(self) -> ProviderError:
        return ProviderError(
            f"the local model server (pid {self._pid}) sent nothing for {READ_TIMEOUT_S:.0f} s: "
            "`assistant server stop` ends it (the next command starts a new one)"
        )


def _remove(*paths: Path) -> None:
    """Remove a dead server's files; what cannot be removed is left for the next server to
    report (it says why it cannot listen)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _is_model_daemon(pid: int) -> bool:
    """Whether ``pid`` is a model server process (a recycled pid must not be killed)."""
    try:
        return b"assistant.providers.model_daemon" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists() and _exists(pid)  # no /proc: trust the pid file
    except OSError:
        return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_report(settings: "Settings") -> dict:
    """What ``assistant server status`` shows: whether a server runs in the configured
    folder and, if it answers, what it says about itself."""
    model_server = ModelServer(folder=server_folder(settings))
    status = model_server.status()
    recorded = model_server.pid_file()
    report: dict = {"running": status is not None, "folder": str(model_server.folder), "socket": str(model_server.socket_path)}
    if status is not None:
        report.update(status)
        report["up_s"] = round(time.time() - status["started_at"], 1)
    elif model_server.alive():
        report.update(running=True, state="not answering", pid=(recorded or {}).get("pid"))
    elif recorded is not None:
        report.update(stale_pid=recorded["pid"])
    return report
