"""The local model server as processes and files: its folder, the locks that tell a live
server and serialise starting one, spawning the server process, and ending one by force.
Deciding what to do with what is found there is :mod:`.model_server`'s business."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, ProviderUnavailable

if TYPE_CHECKING:
    from .model_server import ServerSpec

__all__ = [
    "prepare_folder",
    "alive",
    "try_start_lock",
    "wait_gone",
    "spawn_server",
    "start_failure",
    "kill_started",
    "kill_server",
    "remove",
]

_MAX_SOCKET_PATH = 107  # bytes, on Linux (sun_path)
_MAX_LOG_BYTES = 1 << 20

# Servers started by this process: kept so that they are reaped when they end (a chat
# outlives the server it started) rather than left as zombies.
_CHILDREN: list[subprocess.Popen] = []


def prepare_folder(folder: Path) -> None:
    """The folder, made if needed, owned by this user and closed to everyone else."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.stat()
        if info.st_uid != os.getuid():
            raise ConfigError(
                f"the model server folder {folder} belongs to another user: "
                "set ASSISTANT_SERVER_DIR to a folder of yours"
            )
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


def alive(folder: Path) -> bool:
    """Whether a server process lives in ``folder`` (it holds alive.lock), answering or not."""
    try:
        fd = os.open(folder / "alive.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock, if we got it
    return False


def try_start_lock(folder: Path) -> int | None:
    """The start lock's descriptor, held; None when another command is starting a server."""
    fd = os.open(folder / "start.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def wait_gone(folder: Path, timeout: float) -> bool:
    """Wait for the server in ``folder`` to end; whether it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while alive(folder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def spawn_server(
    spec: "ServerSpec", folder: Path, fingerprint: str, start_lock: int, log_path: Path
) -> subprocess.Popen:
    """Start the server process for ``spec`` in ``folder``, handing it the start lock; its
    output goes to ``log_path``."""
    root = str(
        Path(__file__).resolve().parents[2]
    )  # the folder holding this package: the server runs this very code
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    command = [
        sys.executable, "-m", "assistant.providers.model_daemon",
        "--dir", str(folder), "--model", str(spec.model_path), "--name", spec.model_name,
        "--threads", str(spec.threads), "--context", str(spec.context), "--idle-s", f"{spec.idle_s:g}",
        "--fingerprint", fingerprint, "--parent", str(os.getpid()), "--start-lock-fd", str(start_lock),
    ]  # fmt: skip
    try:  # the log keeps the last servers' lines (starts, stops and why), within a bound
        if log_path.stat().st_size > _MAX_LOG_BYTES:
            log_path.unlink()
    except OSError:
        pass
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    _CHILDREN[:] = [child for child in _CHILDREN if child.poll() is None]  # reaps those that ended
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(start_lock,),
            start_new_session=True,  # a Ctrl-C at the terminal is the command's, not the server's
            cwd=folder,
            env=env,
        )
    except OSError as exc:
        raise ProviderUnavailable(f"cannot start the local model server: {exc.strerror or exc}") from None
    finally:
        os.close(log)
    _CHILDREN.append(process)
    return process


def start_failure(log_path: Path, process: subprocess.Popen | None) -> str:
    """Why the server ``process`` exited before it was ready: its last ``error:`` line."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    pid = process.pid if process is not None else None
    mine = [i for i, line in enumerate(lines) if line.startswith(f"model server pid {pid}:")]
    lines = lines[mine[-1] :] if mine else lines[-20:]  # this server's lines (the log is appended to)
    errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    code = process.returncode if process is not None else "?"
    return f"the local model server exited (code {code}) before it was ready: see {log_path}"


def kill_started(process: subprocess.Popen) -> None:
    """End a server this process started (its whole process group) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def kill_server(pid: int | None) -> None:
    """SIGKILL the server ``pid``, if it is one (a recycled pid must not be killed)."""
    if pid and _is_model_daemon(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove(*paths: Path) -> None:
    """Remove a dead server's files; what cannot be removed is left for the next server to
    report (it says why it cannot listen)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _is_model_daemon(pid: int) -> bool:
    """Whether ``pid`` is a model server process."""
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
