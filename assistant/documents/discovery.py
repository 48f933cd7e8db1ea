"""Which files a set of paths stands for: folders walked, hidden entries skipped, and a
reason for every path that cannot be used."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SUFFIX_ORDER", "SUPPORTED_SUFFIXES", "SUFFIX_LIST", "discover", "unsupported_reason"]

# Listed in this order in user-facing messages (a frozenset has no stable order).
SUFFIX_ORDER = (
    ".txt",
    ".md",
    ".markdown",
    ".html",
    ".htm",
    ".json",
    ".jsonl",
    ".xml",
    ".rss",
    ".atom",
    ".pdf",
)
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(SUFFIX_ORDER)
SUFFIX_LIST = ", ".join(SUFFIX_ORDER)


def discover(paths: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the files to load, and report unusable paths.

    Folders are walked recursively in sorted order; hidden entries are skipped silently,
    files with an unsupported suffix are reported (so nobody wonders why a PDF never
    answered). A file named explicitly is always returned, so ``load_file`` can say why
    it fails.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        found, path_problems = _expand(path)
        problems.extend(path_problems)
        for file in found:
            # The same file reachable twice (named and inside a named folder) loads once.
            key = _identity_key(file)
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems


def _expand(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files one named path stands for, and (path, reason) for what cannot be used."""
    try:
        if path.is_dir():
            found, unsupported = _files_in_folder(path)
            problems = [(str(f), unsupported_reason(f)) for f in unsupported]
            if not found:
                problems.append((str(path), f"no supported files in folder ({SUFFIX_LIST})"))
            return found, problems
        if path.exists() or path.is_symlink():
            return [path], []  # broken symlinks too: load_file says what is wrong
    except OSError as exc:  # e.g. a parent folder we may not enter
        return [], [(str(path), exc.strerror or str(exc))]
    except ValueError:  # a NUL character in the name
        return [], [(str(path), "invalid path")]
    return [], [(str(path), "no such file or directory")]


def _is_regular_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _files_in_folder(folder: Path) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    unsupported: list[Path] = []
    # os.walk does not follow directory symlinks, so a link loop cannot hang us, and it
    # ignores folders it cannot read instead of failing the whole run.
    for current, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            candidate = Path(current) / name
            if name.startswith(".") or not _is_regular_file(candidate):  # skips sockets, fifos, broken links
                continue
            if candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(candidate)
            else:
                unsupported.append(candidate)
    return sorted(found), sorted(unsupported)


def unsupported_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    shown = f"'{suffix}'" if suffix else "(no extension)"
    return f"unsupported file type {shown} (supported: {SUFFIX_LIST})"


def _identity_key(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # RuntimeError: symlink loop on Python < 3.13
        return str(path.absolute())
