"""Files that travel with the package: the prompt templates and the eval set.

They live at the top of the repository (``prompts/``, ``evals/``), where the design puts
them to be reviewed like code; ``pyproject.toml`` maps those folders to the packages
``assistant.bundled.prompts`` and ``assistant.bundled.evals``, so a wheel carries them and
an editable install points at the checkout. Either way they are found the same way,
through :mod:`importlib.resources`, from any working folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["prompts_dir", "evals_dir"]


def _folder(package: str) -> Path:
    # Readers of these folders glob and stat them, so they must be real directories; both
    # a wheel installed by pip and an editable install give one (a zip import would not).
    folder = files(package)
    if not isinstance(folder, Path):  # pragma: no cover - only under a zip import
        raise RuntimeError(f"{package} is not on the file system ({folder}); install the package unzipped")
    return folder


def prompts_dir() -> Path:
    """The bundled ``prompts/`` folder."""
    return _folder("assistant.bundled.prompts")


def evals_dir() -> Path:
    """The bundled ``evals/`` folder (golden questions, corpus, hostile set, thresholds)."""
    return _folder("assistant.bundled.evals")
