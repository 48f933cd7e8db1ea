"""Prompt templates from ``prompts/``: loaded once, placeholders checked, and filled with
passages treated as quoted data."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError
from .models import Passage

__all__ = ["PromptSet", "load_prompts", "DEFAULT_PROMPTS_DIR"]

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
_EXPECTED = {
    "answer_system.txt": set(),
    "answer_user.txt": {"passages", "question"},
    "passage.txt": {"n", "title", "text"},
    "rewrite_system.txt": set(),
    "rewrite_user.txt": {"history", "question"},
}
# Things in article text that could pass for our delimiters or for citation markers.
_DELIMITER = re.compile(r"</?\s*passage", re.IGNORECASE)
_FAKE_MARKER = re.compile(r"\[(\s*\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*\s*)\]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class PromptSet:
    def __init__(self, folder: Path):
        self.folder = folder
        self.templates: dict[str, str] = {}
        for name, expected in _EXPECTED.items():
            path = folder / name
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                raise ConfigError(f"prompt file missing: {path}") from None
            try:
                found = _fields(text)
            except ValueError as exc:
                raise ConfigError(f"prompt file {path} has a broken placeholder: {exc}") from None
            if found != expected:
                raise ConfigError(f"prompt file {path} must use placeholders {sorted(expected)}, found {sorted(found)}")
            self.templates[name] = text.strip()

    def render_passage(self, n: int, passage: Passage) -> str:
        text = _DELIMITER.sub(lambda m: m.group(0).replace("<", "‹"), passage.text)
        text = _FAKE_MARKER.sub(r"(\1)", text)
        title = passage.title.replace('"', "'")
        return self.templates["passage.txt"].format(n=n, title=title, text=text)

    def messages(self, question: str, passages: list[Passage]) -> list[dict[str, str]]:
        blocks = "\n".join(self.render_passage(i, p) for i, p in enumerate(passages, start=1))
        return [
            {"role": "system", "content": self.templates["answer_system.txt"]},
            {"role": "user", "content": self.templates["answer_user.txt"].format(passages=blocks, question=question)},
        ]

    def rewrite_messages(self, question: str, history: str) -> list[dict[str, str]]:
        """Messages asking a model to make a follow-up ``question`` stand alone, given the
        conversation so far (already rendered and bounded by tokens)."""
        return [
            {"role": "system", "content": self.templates["rewrite_system.txt"]},
            {"role": "user", "content": self.templates["rewrite_user.txt"].format(history=history, question=question)},
        ]


@lru_cache(maxsize=4)
def load_prompts(folder: Path = DEFAULT_PROMPTS_DIR) -> PromptSet:
    return PromptSet(Path(folder))
