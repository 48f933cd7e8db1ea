"""Prompt templates from ``prompts/``: loaded once, placeholders checked, and filled with
passages treated as quoted data."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path

from .bundled import prompts_dir
from .errors import ConfigError
from .invisible import strip_invisible
from .models import Passage

__all__ = ["PromptSet", "load_prompts", "neutralise", "DEFAULT_PROMPTS_DIR"]

DEFAULT_PROMPTS_DIR = prompts_dir()
_EXPECTED = {
    "answer_system.txt": set(),
    "answer_user.txt": {"passages", "question"},
    "passage.txt": {"n", "title", "about", "text"},
    "rewrite_system.txt": set(),
    "rewrite_user.txt": {"history", "question"},
}
# Things in article text that could pass for our delimiters, for citation markers (in the
# shapes the answer parser reads, and full-width look-alikes) or for the chat template's
# special tokens (<|im_start|> and kin, which a llama.cpp server would read as real turns).
# The loader already drops lines holding them; this is the last line of defence for text
# that reaches a prompt another way (an index built before, a title).
_DELIMITER = re.compile(r"</?\s*passage", re.IGNORECASE)
_FAKE_MARKER = re.compile(
    r"[\[【［〔](\s*(?:(?:passage|source|doc(?:ument)?|ref)\s*)?\d{1,3}(?:\s*(?:[,;–-]|and)\s*(?:(?:passage|source)\s*)?\d{1,3})*\s*)[\]】］〕]",
    re.IGNORECASE,
)
# "passage 2" written out: the answer parser reads it as a marker too ("according to passage 2").
_WORDED_MARKER = re.compile(r"\b(passages?)\s+(?=\d)", re.IGNORECASE)
_MARKER_WORD = re.compile(r"passage|source|doc(?:ument)?|ref", re.IGNORECASE)
_SPECIAL_TOKEN = re.compile(r"<\|([^|<>\n]{0,40})\|>|\[(/?INST)\]|<<(/?SYS)>>", re.IGNORECASE)


def neutralise(text: str) -> str:
    """Article text made safe to quote inside the prompt: nothing in it can close or open a
    passage, cite a passage, or start a chat turn."""
    text = strip_invisible(text)  # "</pas\u200bsage" must not slip past the patterns below
    text = _DELIMITER.sub(lambda m: m.group(0).replace("<", "‹"), text)
    text = _FAKE_MARKER.sub(lambda m: "(" + " ".join(_MARKER_WORD.sub(" ", m.group(1)).split()) + ")", text)
    text = _WORDED_MARKER.sub(r"\1 #", text)
    return _SPECIAL_TOKEN.sub(lambda m: "‹" + next(g for g in m.groups() if g is not None) + "›", text)


def _about(passage: Passage) -> str:
    """When and by whom the passage's article was published, as far as it says (news
    changes and sources disagree: the model can only say 'as of when' if it is told), or
    nothing at all: a passage of an undated, unsigned article reads as it always did."""
    about = f", published {passage.published}" if passage.published else ""
    if passage.author:
        about += ", by " + _header_text(passage.author)[:80]
    return about


def _header_text(text: str) -> str:
    """Article metadata made safe for one line of a passage's header (inside its quotes)."""
    return " ".join(neutralise(text).replace('"', "'").split())


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
                raise ConfigError(
                    f"prompt file {path} must use placeholders {sorted(expected)}, found {sorted(found)}"
                )
            self.templates[name] = text.strip()

    def render_passage(self, n: int, passage: Passage) -> str:
        text = neutralise(passage.text)
        return self.templates["passage.txt"].format(
            n=n, title=_header_text(passage.title), about=_about(passage), text=text
        )

    def messages(self, question: str, passages: list[Passage]) -> list[dict[str, str]]:
        blocks = "\n".join(self.render_passage(i, p) for i, p in enumerate(passages, start=1))
        return [
            {"role": "system", "content": self.templates["answer_system.txt"]},
            {
                "role": "user",
                "content": self.templates["answer_user.txt"].format(passages=blocks, question=question),
            },
        ]

    def rewrite_messages(self, question: str, history: str) -> list[dict[str, str]]:
        """Messages asking a model to make a follow-up ``question`` stand alone, given the
        conversation so far (already rendered and bounded by tokens)."""
        return [
            {"role": "system", "content": self.templates["rewrite_system.txt"]},
            {
                "role": "user",
                "content": self.templates["rewrite_user.txt"].format(history=history, question=question),
            },
        ]


@lru_cache(maxsize=4)
def load_prompts(folder: Path = DEFAULT_PROMPTS_DIR) -> PromptSet:
    return PromptSet(Path(folder))
