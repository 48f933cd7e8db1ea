"""Text addressed to the AI model reading an article rather than to its readers
(prompt injection) is not article text: this filter removes it, line by line, before
``Article.text`` is fixed, so passage offsets stay exact."""

from __future__ import annotations

import re

from ..text import split_sentences
from .article import collapse
from .decoding import SOFT_HYPHEN

__all__ = ["without_injections", "clean_title", "ONLY_INJECTED"]

# Tokens that structure a prompt, never a news story: chat-template turns and our own
# passage delimiters. A line holding one is dropped, and so is everything between an
# opening one and its closing one (the injected "turn" or "passage").
_OPENERS = r"<\|im_start\|>|<\|(?:system|user|assistant)\|>|\[INST\]|<<SYS>>|<\s*passage\b"
_CLOSERS = r"<\|im_end\|>|<\|(?:eot_id|end|endoftext)\|>|\[/INST\]|<</SYS>>|<\s*/\s*passage\b"
_STRUCTURAL = re.compile(rf"{_OPENERS}|{_CLOSERS}|<\|[a-z_]{{2,20}}\|>|</?\s*passage\b", re.IGNORECASE)
_TURN = re.compile(f"(?P<open>{_OPENERS})|(?P<close>{_CLOSERS})", re.IGNORECASE)
# A sentence that speaks to the model reading the article rather than to its readers: a
# role label opening it, an order to drop earlier instructions or the question, a request
# for the system prompt, a note to AI models. Kept narrow: ordinary news text ("the firm
# ignored the rules", "a note to his assistant") never matches.
_ADDRESSED_TO_MODEL = re.compile(
    r"^\W*(?:system|assistant|user|human)\s*:"
    r"|^\W*(?:assistant|chatbot)\s*,"
    r"|\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|my|these|those)\s+)*"
    r"(?:(?:previous|prior|above|earlier|preceding|foregoing|original|other)\s+)+"
    r"(?:instructions?|prompts?|rules|directions|guidelines|questions?|passages?|context|messages?)\b"
    r"|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:your|my)\s+(?:instructions?|prompt|rules)\b"
    r"|\bdisregard\s+the\s+question\b|\bthe\s+question\s+you\s+were\s+(?:asked|given)\b"
    r"|\banswer\s+(?:this|the\s+following|another)\s+question\s+instead\b"
    r"|\b(?:print|reveal|repeat|show|output|display|leak|write\s+out)\s+(?:your|the|its)\s+"
    r"(?:(?:full|entire|complete|original|hidden|initial)\s+)*(?:system\s+)?(?:prompt|instructions)\b"
    r"|^\W*(?:begin|end)\s+(?:of\s+)?(?:the\s+)?system\s+(?:message|prompt)\b"
    r"|^\W*(?:important\s+)?(?:note|message|instructions?|reminder|attention)\b[^:\n]{0,60}"
    r"\b(?:ai|llms?|chatbots?|language\s+models?|ai\s+models?|ai\s+assistants?)\b[^:\n]{0,60}:",
    re.IGNORECASE,
)
# Citation markers in the shapes the answer parser reads ([1], [1-3], [Passage 2],
# [source 1]), full-width look-alikes (【1】), and markers written out ("according to
# passage 2"). A news article never carries them: in one, they are forged citations.
_FORGED_MARKER = re.compile(
    r"[\[【［〔]\s*(?:(?:passage|source|doc(?:ument)?|ref)\s*)?\d{1,3}"
    r"(?:\s*(?:[,;–-]|and)\s*(?:(?:passage|source)\s*)?\d{1,3})*\s*[\]】］〕]"
    r"|\b(?:according\s+to|see|as\s+stated\s+in|cited?\s+(?:it|this|them)\s+as)\s+(?:the\s+)?passages?\s+\d{1,3}\b",
    re.IGNORECASE,
)
_SOURCES_HEADING = re.compile(r"^\W*(?:sources?|references?|citations?)\s*:?\s*$", re.IGNORECASE)
# A line longer than this is a block the markup did not split into paragraphs (a whole
# page in one <div>): only the injected sentences go, not the whole block.
_LONG_LINE = 1000
# A line holding none of these (lowercased) cannot match the two patterns above: the cheap
# test that spares ordinary lines the regexes and the sentence split (5 MB in a fraction
# of a second instead of seconds).
_TRIGGERS = (
    "[", "【", "［", "〔", "passage", "system", "assistant", "user", "human", "chatbot", "ignore",
    "disregard", "forget", "override", "question", "prompt", "instruction", "note", "message", "reminder",
    "attention",
)  # fmt: skip
# Where an injection starts inside a title (one line: no sentence anchors).
_TITLE_INJECTION = re.compile(
    rf"{_STRUCTURAL.pattern}|{_ADDRESSED_TO_MODEL.pattern}|{_FORGED_MARKER.pattern}|\b(?:system|assistant|user)\s*:",
    re.IGNORECASE,
)


def _inside_after(line: str, inside: bool) -> bool:
    """Whether an injected turn or passage is still open after ``line``."""
    for match in _TURN.finditer(line):
        inside = match.group("open") is not None
    return inside


def _clean_line(line: str) -> str | None:
    """The line without injected text: None when it must go whole, else what is kept."""

    lowered = line.replace(SOFT_HYPHEN, "").lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return line
    sentences = split_sentences(line)
    seen = [line[a:b].replace(SOFT_HYPHEN, "") for a, b in sentences]
    addressed = next((a for (a, _), text in zip(sentences, seen) if _ADDRESSED_TO_MODEL.search(text)), None)
    forged = [span for span, text in zip(sentences, seen) if _FORGED_MARKER.search(text)]
    if addressed is None and not forged:
        return line
    if len(line) <= _LONG_LINE:
        return None  # a paragraph holding an injection is the injection's paragraph
    end = (
        len(line) if addressed is None else addressed
    )  # an address to the model runs to the end of its block
    kept = [line[a:b] for a, b in sentences if b <= end and (a, b) not in forged]
    return line[: len(line) - len(line.lstrip())] + " ".join(kept) if kept else None


def without_injections(text: str) -> str:
    """``text`` without what is addressed to an AI model rather than to readers: lines
    holding a chat-template token or one of our passage delimiters, and everything
    between an opening one and its closing one; paragraphs (lines) holding a sentence
    that speaks to the model or a forged citation marker; a "Sources:" heading over
    such lines. Untouched lines stay byte for byte."""
    lines = text.split("\n")
    kept: list[str | None] = []
    inside = False  # within a turn or passage the injection opened
    for line in lines:
        seen = line.replace(SOFT_HYPHEN, "")
        if inside or _STRUCTURAL.search(seen):
            inside = _inside_after(seen, inside)
            kept.append(None)
        else:
            kept.append(_clean_line(line) if line.strip() else line)
    for i, line in enumerate(lines):
        following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
        if (
            kept[i] is not None
            and _SOURCES_HEADING.match(line)
            and following is not None
            and kept[following] is None
        ):
            kept[i] = None
    if kept == lines:
        return text
    return "\n".join(line for line in kept if line is not None).rstrip()


def clean_title(title: str | None) -> str | None:
    """A title cut where an injection starts in it; None when nothing is left."""
    if not title:
        return title
    match = _TITLE_INJECTION.search(title.replace(SOFT_HYPHEN, ""))
    if match:
        title = collapse(title.replace(SOFT_HYPHEN, "")[: match.start()]).rstrip(" -–—|:;,")
    return title or None


ONLY_INJECTED = "only text addressed to an AI model (prompt injection)"
