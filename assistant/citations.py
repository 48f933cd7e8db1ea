"""Where citations are checked.

The model's answer is split into sentences and its ``[n]`` markers parsed (``[1]``,
``[1][2]``, ``[1, 2]``, ``[1-3]``, ``[Passage 2]``). Every cited sentence is scored
against every passage it could come from: the best window of one to three consecutive
passage sentences, by embedding similarity plus how many of the sentence's content words
(and all of its numbers) the window holds. A marker survives only if its passage supports
the sentence; otherwise it is moved to a passage that does, or dropped. A factual
sentence that no passage supports is removed from the answer. So every citation a user
sees was backed by the verifier, and carries the quote that backs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .models import AnswerSentence, Citation, Passage, Repairs
from .support import (
    MARGIN,
    PAIR_PART_FLOOR,
    PAIR_WORDS_EXTRA,
    SupportScorer,
    Window,
    numbers_in,
)
from .text import BULLET, CITATION_MARKER, split_sentences

__all__ = [
    "parse_answer",
    "verify",
    "Verified",
    "is_refusal",
    "strip_markers",
    "REFUSAL_TEXT",
]

REFUSAL_TEXT = "The articles do not say."


_SOURCES_SECTION = re.compile(
    r"\n\s*(?:#+\s*)?(?:sources|references|citations)\s*:?\s*\n.*\Z", re.IGNORECASE | re.DOTALL
)
# Sentences that join two facts (a comparison, a contrast, a change from one report to a later
# one): only these may be backed by two passages together.
_COMPARISON = re.compile(
    r"\b(?:while|whereas|but|than|compared|both|respectively|however|and then|changed?|"
    r"rose|fell|increased|decreased|"
    r"widened|narrowed|earlier|later|updated?)\b|\bfrom\b[^.;]{1,60}?\bto\b|;",
    re.IGNORECASE,
)
# What is left of marker-like text once markers are taken out ("[[3]25]" -> "[25]"): never shown.
_MARKER_RESIDUE = re.compile(r"\[[^\[\]]{0,40}?\d[^\[\]]{0,40}?\]|\[\s*\]")
_SOURCES_LINE = re.compile(r"^\s*(?:sources?|references?|citations?)\s*:?[\s,;.]*$", re.IGNORECASE)
_LEAD_IN = re.compile(
    r"^(?:here(?:'s| is| are)|below|based on|according to the (?:passages?|articles?)|in summary|to "
    r"answer|sure|certainly|okay|ok|yes|no|answer)\b",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"(?:\b(?:articles?|passages?|sources?|context|text|documents?)\b[^.]*?"
    r"\b(?:do(?:es)?\s*n[o']t|did\s*n[o']t|does not|do not)\s+"
    r"(?:say|mention|state|specify|provide|contain|include|report|address|answer|give|indicate|discuss|tell)"
    r"|\bno (?:information|mention|details?)\b"
    r"|\bnot (?:mentioned|stated|specified|provided|reported|available)\b"
    r"|\bI (?:don[’']t|do not) know\b|\bcannot (?:answer|determine|be determined)\b"
    r"|\bunable to (?:answer|determine|find)\b)",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text))


_SPACED_MARKER = re.compile(r"\s*" + CITATION_MARKER.pattern, re.IGNORECASE)


def strip_markers(text: str) -> str:
    """``text`` without its citation markers ("[1]", "[2, 3]", "[passage 4]"): how a model's
    text shows before its citations are verified, and how an answer is kept in the history."""
    return _SPACED_MARKER.sub("", text)


# -- parsing ----------------------------------------------------------------------------
# Markers written out in words: "according to passage 1", "(passage 2)", "in passages 1 and 3".
_WORDED_MARKER = re.compile(
    r"[,;]?\s*\(?\b(?:according to|as stated in|as "
    r"per|see|in|from)?\s*(?:the\s+)?passages?\s+(\d{1,3}(?:\s*(?:,|and)\s*\d{1,3})*)\)?",
    re.IGNORECASE,
)


# The prompt's own passage tags copied into an answer ("in <passage 1>", "</passage 2>"): markers.
_TAG_MARKER = re.compile(r"\s*<\s*/?\s*passage\s+(\d{1,3})\b[^<>\n]{0,200}>", re.IGNORECASE)
# A pointer at the passages with no number ("..., according to the passage.", "In the passages,
# ..."): says nothing of the news and is no citation, yet its words are in no passage, so it
# would cost a right sentence its support. Only at a sentence's start or end, set off by a
# comma, so a source the article itself names ("according to the report") stays.
_POINTER = (
    r"(?:according to|as (?:stated|mentioned|given|described|shown) in|as per|based on|from|in)"
    r"\s+the\s+(?:given\s+|provided\s+|above\s+)?(?:passages?|text|context)(?:\s+in)?"
)
_POINTER_END = re.compile(r",?\s+" + _POINTER + r"\s*(?=[.!?]?$)", re.IGNORECASE)
_POINTER_START = re.compile(r"^" + _POINTER + r"\s*,\s*(\w)", re.IGNORECASE)


def _without_pointer(sentence: str) -> str:
    sentence = _POINTER_END.sub("", sentence)
    return _POINTER_START.sub(lambda m: m.group(1).upper(), sentence)


def _worded_to_brackets(text: str) -> str:
    text = _TAG_MARKER.sub(lambda m: f" [{m.group(1)}]", text)
    return _WORDED_MARKER.sub(lambda m: " [" + re.sub(r"\s*(?:,|and)\s*", ",", m.group(1)) + "]", text)


def _marker_numbers(body: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", body):
        part = re.sub(r"(?i)passage|source", "", part).strip()
        if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
            lo, hi = (int(x) for x in re.split(r"[–-]", part))
            numbers.extend(range(lo, hi + 1) if 0 < hi - lo < 10 else [lo, hi])
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


@dataclass(frozen=True)
class ParsedSentence:
    text: str  # without markers
    markers: tuple[int, ...]  # as written, in order, duplicates removed


def parse_answer(raw: str) -> list[ParsedSentence]:
    """Sentences of a model answer with the markers each carries. A marker belongs to the
    sentence it ends or follows ("... claims [1]." and "... claims. [1]"); each line of a
    bulleted answer is its own sentence."""
    text = _SOURCES_SECTION.sub("", raw.strip())  # a trailing "Sources:" list restates markers
    out: list[ParsedSentence] = []
    pending: list[int] = []
    for line in _worded_to_brackets(text).split("\n"):
        line = re.sub(r"\s+", " ", BULLET.sub("", line)).strip()
        # Markers right after a sentence's end punctuation belong to that sentence: move them before it.
        line = re.sub(
            r"([.!?])((?:\s*" + CITATION_MARKER.pattern + r")+)",
            lambda m: m.group(2) + m.group(1),
            line,
            flags=re.IGNORECASE,
        )
        for start, end in split_sentences(line):
            sentence = line[start:end]
            markers = [n for m in CITATION_MARKER.finditer(sentence) for n in _marker_numbers(m.group(1))]
            clean = CITATION_MARKER.sub("", sentence)
            while _MARKER_RESIDUE.search(clean):
                clean = _MARKER_RESIDUE.sub("", clean)
            clean = re.sub(r"\s+([.,;:!?])", r"\1", clean).strip()
            clean = _without_pointer(re.sub(r"\s{2,}", " ", clean))
            if not re.search(r"\w", clean) or _SOURCES_LINE.match(clean):
                # Only markers (or "Sources: [1]"): they cite the previous sentence.
                if out:
                    prev = out[-1]
                    out[-1] = ParsedSentence(prev.text, _unique(prev.markers + tuple(markers)))
                else:
                    pending.extend(markers)
                continue
            out.append(ParsedSentence(clean, _unique(tuple(pending + markers))))
            pending = []
    return out


def _unique(values: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


# -- verification -----------------------------------------------------------------------
@dataclass(frozen=True)
class Verified:
    text: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    repairs: Repairs
    refused: bool


def _is_pure_refusal(sentence: str) -> bool:
    """ "The articles do not say." and its short variants: nothing else in them to check."""
    return is_refusal(sentence) and not numbers_in(sentence) and len(sentence.split()) <= 7


def _is_meta(sentence: str) -> bool:
    """A sentence that states nothing to cite: a refusal ("The articles do not say") or a
    lead-in ("Here is what I found:"). Only judged for sentences no passage supports, and
    never for one holding a number, so a claim cannot hide behind a refusal phrase."""
    if numbers_in(sentence):
        return False
    words = len(sentence.split())
    if is_refusal(sentence) and words <= 16:
        return True
    return words <= 10 and (sentence.rstrip().endswith(":") or bool(_LEAD_IN.match(sentence)))


def _render(sentence: str, numbers: tuple[int, ...]) -> str:
    if not numbers:
        return sentence
    marks = "".join(f"[{n}]" for n in numbers)
    match = re.search(r"([.!?…]+[\"'”’)]*)$", sentence)
    if match:
        return f"{sentence[: match.start()]} {marks}{match.group(1)}"
    return f"{sentence} {marks}"


@dataclass
class _Tally:
    """The repairs counted while verifying (mutable: one answer's, within :func:`verify`)."""

    kept: int = 0
    moved: int = 0
    added: int = 0
    dropped: int = 0
    unsupported: int = 0


def _backing(
    sentence: ParsedSentence, s: int, scorer: SupportScorer, row: np.ndarray,
    per_passage: list[tuple[float, Window | None]], threshold: float, margin: float, tally: _Tally,
) -> list[int]:  # fmt: skip
    """The passages (0-based) that back sentence ``s``: those it cites that support it, a
    weak one replaced by the best; two that back it only together; else the best one; []
    when none does. The repairs this takes are counted in ``tally``."""
    top = max((score for score, _ in per_passage), default=0.0)
    # A passage backs the sentence if it clears the threshold and is not far behind the
    # best one: a weak match is replaced by the passage that really says it.
    good = {i for i, (score, _) in enumerate(per_passage) if score >= threshold and score >= top - margin}
    best = max(good, key=lambda j: per_passage[j][0], default=None)
    chosen: list[int] = [i for i in (n - 1 for n in sentence.markers) if i in good]
    tally.kept += len(chosen)
    for i in (n - 1 for n in sentence.markers):
        if i in good:
            continue
        if not chosen and best is not None:
            chosen.append(best)
            tally.moved += 1
        else:
            tally.dropped += 1
    unbacked = not chosen and best is None and len(per_passage) > 1  # no one passage backs it
    spans = unbacked and scorer.numbers_span_passages(s)
    if unbacked and (spans or _COMPARISON.search(sentence.text)):
        pair = scorer.pair_support(s, row, floor=PAIR_PART_FLOOR)
        # Supported only by two passages together: cite both. Words alone need a higher bar
        # there than numbers that each passage states (the pair holds every number).
        if pair and pair[0] >= threshold + (0.0 if spans else PAIR_WORDS_EXTRA):
            chosen = [pair[1], pair[2]]
            right = sum(1 for n in sentence.markers if n - 1 in chosen)  # counted as dropped above
            tally.kept, tally.dropped = tally.kept + right, tally.dropped - right
            tally.added += 2 - right
    if not chosen and best is not None:
        chosen.append(best)
        tally.added += 1
    return chosen


def _cite(
    chosen: list[int], per_passage: list[tuple[float, Window | None]], display: dict[int, int], quotes: dict
) -> tuple[int, ...]:
    """The numbers shown for the ``chosen`` passages (numbered in order of first citation,
    in ``display``); each passage keeps the best-supporting quote it is cited with (``quotes``)."""
    numbers = []
    for i in chosen:
        display.setdefault(i, len(display) + 1)
        numbers.append(display[i])
        score, window = per_passage[i]
        if i not in quotes or score > quotes[i][0]:
            quotes[i] = (score, window)
    return tuple(numbers)


def verify(
    raw: str,
    passages: Sequence[Passage],
    embed: Callable[[list[str]], np.ndarray],
    threshold: float = 0.5,
    margin: float = MARGIN,
    question: str = "",
) -> Verified:
    """Check and repair every citation of ``raw`` against the numbered ``passages`` (1-based)."""
    parsed = parse_answer(raw)
    scorer = SupportScorer(passages, embed)
    scores = scorer.score_all([p.text for p in parsed], question)
    tally = _Tally()
    display: dict[int, int] = {}  # passage index -> number shown
    quotes: dict[int, tuple[float, object]] = {}
    sentences: list[AnswerSentence] = []
    rendered: list[str] = []
    for s, sentence in enumerate(parsed):
        refusal = _is_pure_refusal(sentence.text)
        if refusal:
            tally.dropped += len(sentence.markers)
        per_passage = [] if refusal else _windows(scorer, scores[s], len(passages))
        row = scores[s]
        chosen = [] if refusal else _backing(sentence, s, scorer, row, per_passage, threshold, margin, tally)
        if not chosen and not refusal and not _is_meta(sentence.text):
            tally.unsupported += 1  # a claim no passage backs: removed from the answer
            continue
        if not chosen:  # a refusal or a lead-in: states nothing to cite
            sentences.append(AnswerSentence(sentence.text, (), factual=False))
            rendered.append(sentence.text)
            continue
        numbers = _cite(chosen, per_passage, display, quotes)
        sentences.append(
            AnswerSentence(sentence.text, numbers, quotes=tuple(per_passage[i][1].text for i in chosen))
        )
        rendered.append(_render(sentence.text, numbers))
    citations = tuple(
        Citation(
            n, passages[i], quotes[i][1].text, quotes[i][1].start, quotes[i][1].end, round(quotes[i][0], 4)
        )
        for i, n in sorted(display.items(), key=lambda item: item[1])
    )
    repairs = Repairs(tally.kept, tally.moved, tally.added, tally.dropped, tally.unsupported)
    if not any(s.factual for s in sentences):
        return Verified(REFUSAL_TEXT, (AnswerSentence(REFUSAL_TEXT, (), factual=False),), (), repairs, True)
    return Verified(" ".join(rendered), tuple(sentences), citations, repairs, False)


def _windows(scorer: SupportScorer, row: np.ndarray, count: int) -> list[tuple[float, Window | None]]:
    """For each passage, the best window backing a sentence and its score (with the list the
    window opens, when it does)."""
    per_passage = [scorer.best_window(row, i) for i in range(count)]
    return [(score, window and scorer.with_its_list(window)) for score, window in per_passage]
