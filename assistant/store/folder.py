"""The index folder: what may be in it, its marker file, and the lock that lets one ingest
write to an index at a time.

Everything here is plain files and ``flock``: nothing imports Chroma, so a command can
tell whether there is an index at all without paying for it.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..config import Settings
from ..errors import AssistantError, IndexError_, IndexNotFound

__all__ = ["IndexFolder", "index_marker_exists", "damaged"]

_MARKER = "assistant-index.json"
_FORMAT = 1
_MARKER_TMP = _MARKER + ".tmp"
# Files that may sit in an index folder before anything was ingested (the repo's index/).
_ALLOWED_IN_FRESH_FOLDER = {".gitignore", "README.md", ".lock", _MARKER_TMP}


def index_marker_exists(index_dir: Path) -> bool:
    """Whether ``index_dir`` looks like an index (cheap: no Chroma import)."""
    return (index_dir / _MARKER).is_file()


def damaged(index_dir: Path, what: str) -> IndexError_:
    return IndexError_(
        f"{index_dir}/ is damaged ({what}): nothing was changed in it; move it aside or delete it, "
        "then run `assistant ingest` again (or use another --index)"
    )


def _ingest_busy(index_dir: Path, writing: bool) -> AssistantError:
    if writing:
        return AssistantError(
            f"another ingest is writing to {index_dir}/: wait for it to finish, then run this one again"
        )
    return IndexError_(f"an ingest is creating {index_dir}/ right now: wait for it to finish, then ask again")


class IndexFolder:
    """The files of one index on this machine: for a local index its folder, for a Chroma
    server the per-user cache folder that holds its lexical side. The write lock is
    ``.lock`` in the folder that holds ``lexical/``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.uses_server:
            safe = f"{settings.chroma_host}-{settings.chroma_port}-{settings.collection}".replace("/", "_")
            self.lexical_dir = settings.cache_dir / "lexical" / safe
        else:
            self.lexical_dir = settings.index_dir / "lexical"
        self.lock_dir = self.lexical_dir.parent

    # -- the write lock ---------------------------------------------------------------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold ``.lock`` exclusively; if another process holds it, refuse at once (one
        writer per index, a second one is refused, not queued). The kernel drops the lock
        when its holder dies, however it dies."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_dir / ".lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _ingest_busy(self.lock_dir, writing=True) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def another_ingest_holds(self) -> bool:
        """Whether another process holds ``.lock`` right now. Never creates the file, and
        holds the lock only for the instant of asking."""
        try:
            fd = os.open(self.lock_dir / ".lock", os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    # -- what is in the folder --------------------------------------------------------
    def check(self, create: bool) -> bool:
        """Refuse (without writing anything) a folder that is not ours or is damaged.
        True when there is no index there yet and ``create`` allows making one."""
        index_dir = self.settings.index_dir
        if index_dir.exists() and not index_dir.is_dir():
            raise IndexError_(f"{index_dir} is a file, not an index folder: choose a folder with --index")
        if not (index_dir / _MARKER).exists():
            return self._check_fresh(create)
        self._check_marker()
        chroma_dir = index_dir / "chroma"
        # An empty chroma/ is an index whose first ingest died before Chroma wrote anything.
        if chroma_dir.is_dir() and any(chroma_dir.iterdir()):
            self._check_database(chroma_dir / "chroma.sqlite3")
        elif not create:
            raise IndexNotFound.nothing_in(f"{index_dir}/")
        return False

    def _check_fresh(self, create: bool) -> bool:
        index_dir = self.settings.index_dir
        strangers = sorted(p.name for p in index_dir.glob("*") if p.name not in _ALLOWED_IN_FRESH_FOLDER)
        if strangers:
            raise IndexError_(
                f"{index_dir}/ is not an assistant index and is not empty ({', '.join(strangers[:3])}...): "
                + (
                    "choose an empty or new folder with --index"
                    if create
                    else "point --index at an index folder"
                )
            )
        if not create:
            raise IndexNotFound.nothing_in(f"{index_dir}/")
        return True

    def _check_marker(self) -> None:
        index_dir = self.settings.index_dir
        try:
            info = json.loads((index_dir / _MARKER).read_text())
            if not isinstance(info, dict):
                raise ValueError(info)
        except (OSError, ValueError, UnicodeDecodeError):
            raise damaged(index_dir, f"{_MARKER} is unreadable") from None
        if info.get("format") != _FORMAT:
            raise IndexError_(
                f"{index_dir}/ was written by an incompatible version (format {info.get('format')}): "
                "ingest into a new --index"
            )

    def _check_database(self, database: Path) -> None:
        index_dir = self.settings.index_dir
        if not database.is_file():
            raise damaged(index_dir, "chroma/chroma.sqlite3 is missing")
        try:
            with open(database, "rb") as handle:
                header = handle.read(16)
        except OSError as exc:
            raise damaged(index_dir, f"chroma/chroma.sqlite3 is unreadable: {exc.strerror}") from None
        if header and header != b"SQLite format 3\x00":
            raise damaged(index_dir, "chroma/chroma.sqlite3 is not a database")

    def check_unless_being_written(self, create: bool) -> bool:
        """:meth:`check`, but a folder that an ingest is writing right now is named as such:
        while a first ingest creates an index, it holds ``chroma/`` before Chroma has
        written its database there, which would read as damaged."""
        try:
            return self.check(create)
        except IndexError_:
            if self.another_ingest_holds():
                raise _ingest_busy(self.settings.index_dir, writing=create) from None
            # Once more: the ingest that was creating it may have finished in between.
            return self.check(create)

    def prepare(self, create: bool) -> Path:
        """The folder Chroma keeps a local index in, checked, and marked as an index when
        ``create`` makes a new one."""
        # Writers hold the lock by now (and have checked before taking it); asking again
        # would find their own lock held.
        check = self.check if create else self.check_unless_being_written
        index_dir = self.settings.index_dir
        if check(create):
            index_dir.mkdir(parents=True, exist_ok=True)
            tmp = index_dir / _MARKER_TMP  # written whole, then renamed: a kill never leaves half a marker
            tmp.write_text(json.dumps({"format": _FORMAT, "kind": "assistant passage index"}) + "\n")
            os.replace(tmp, index_dir / _MARKER)
        return index_dir / "chroma"

    def state_path(self, name: str) -> Path:
        """A file of this index's own beside its lexical side, for state that is not
        passages (what a URL answered last time)."""
        return self.lexical_dir / name

    def size_on_disk(self) -> int | None:
        """Bytes the local index takes; None for a server's."""
        if self.settings.uses_server:
            return None
        total = 0
        for root, _dirs, files in os.walk(self.settings.index_dir):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
        return total
