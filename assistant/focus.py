"""What the model reads of each passage: the question-relevant part.

On a CPU the model's time to first token is its prefill, and prefill is proportional to
the prompt's length (about 100 tokens/s for the bundled model on 2 cores). So a model
provider is given, of each retrieved passage, the contiguous run of lines and sentences
most related to the question, up to a token budget. A line that introduces a list ("...
customer data including:") stays with its items. The answer is still verified against
the whole passages, so trimming can only lose an answer, never admit an unsupported one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .models import Passage
from .text import BULLET, split_sentences
from .tokens import count_tokens

__all__ = ["focus_passages", "units_of"]

_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or the their "
    "them they this to was were what when where which who whom whose why will with would".split()
)


def units_of(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` a focus may start or end at: sentences within lines, with a line
    that ends in ':' joined to the list items under it."""
    units: list[tuple[int, int]] = []
    offset = 0
    intro_open = False
    for line in text.splitlines(keepends=True):
        start, end = offset, offset + len(line.rstrip())
        offset += len(line)
        if start >= end or not line.strip():
            intro_open = False
            continue
        if intro_open and BULLET.match(line):
            units[-1] = (units[-1][0], end)  # an item stays with its introduction
            continue
        units.extend(split_sentences(text, start, end))
        intro_open = line.rstrip().endswith(":")
    return units


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _best_window(scores: list[float], costs: list[int], budget: int) -> tuple[int, int]:
    """The contiguous run of units, within ``budget`` tokens, around the best-scoring unit,
    grown towards the better neighbour while it fits."""
    best = max(range(len(scores)), key=scores.__getitem__)
    lo = hi = best
    used = costs[best]
    while True:
        left = scores[lo - 1] if lo > 0 and used + costs[lo - 1] <= budget else None
        right = scores[hi + 1] if hi + 1 < len(scores) and used + costs[hi + 1] <= budget else None
        if left is None and right is None:
            return lo, hi
        if right is None or (left is not None and left > right):
            lo -= 1
            used += costs[lo]
        else:
            hi += 1
            used += costs[hi]


def focus_passages(
    question: str, passages: Sequence[Passage], embed: Callable[[list[str]], np.ndarray], budget: int
) -> list[Passage]:
    """Each passage cut to its part most related to ``question`` (a sub-span, so offsets
    stay true); passages already within ``budget`` tokens are kept whole."""
    if budget <= 0:
        return list(passages)
    plans = []
    texts = [question]
    for passage in passages:
        units = units_of(passage.text) if count_tokens(passage.text) > budget else []
        plans.append(units)
        texts.extend(passage.text[a:b] for a, b in units)
    if len(texts) == 1:
        return list(passages)
    vectors = embed(texts)
    asked = _words(question)
    focused: list[Passage] = []
    cursor = 1
    for passage, units in zip(passages, plans):
        if not units:
            focused.append(passage)
            continue
        unit_texts = [passage.text[a:b] for a, b in units]
        similarity = vectors[cursor : cursor + len(units)] @ vectors[0]
        cursor += len(units)
        scores = [
            float(sim) + 0.5 * (len(asked & _words(text)) / len(asked) if asked else 0.0)
            for sim, text in zip(similarity, unit_texts)
        ]
        costs = [count_tokens(text) + 1 for text in unit_texts]
        lo, hi = _best_window(scores, costs, budget)
        a, b = units[lo][0], units[hi][1]
        focused.append(
            replace(
                passage,
                text=passage.text[a:b],
                start=passage.start + a,
                end=passage.start + b,
                tokens=sum(costs[lo : hi + 1]),
            )
        )
    return focused
