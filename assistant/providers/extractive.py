"""No model: answer with the passage sentences that best match the question.

Deterministic and fast. Each sentence is scored by embedding similarity to the question
plus how much of the question's rarer words it holds (weighted by idf over the whole
index, so a name that is in every passage counts for little). When even the best
sentence is weak, the articles do not say.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..citations import REFUSAL_TEXT, Unit, support_units
from ..lexical import tokenize
from ..models import Passage
from . import Provider

if TYPE_CHECKING:
    from ..retrieval import Searcher

_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,3}[.)])\s+")
# Questions that can only be answered by a number, or by a date: a sentence without one
# cannot be the answer, however close its topic.
_WANTS_NUMBER = re.compile(
    r"\b(?:how (?:many|much|large|big|long|far|old|high|low)|by how much|what (?:percentage|percent|share|proportion|"
    r"price|amount|number|sum|fee|fine|cost|salary|wage|rate|figure|total))\b",
    re.IGNORECASE,
)
_WANTS_DATE = re.compile(r"\b(?:when|(?:what|which|on what) (?:date|day|year|month))\b", re.IGNORECASE)
_HAS_DATE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|Monday|Tuesday|"
    r"Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today|last (?:week|month|year)|(?:19|20)\d\d)\b"
)


class ExtractiveProvider(Provider):
    name = "extractive"
    model = "extractive-v1"

    def __init__(self, searcher: "Searcher", threshold: float, max_sentences: int = 2):
        self.searcher = searcher
        self.threshold = threshold
        self.max_sentences = max_sentences

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.searcher.embed(texts)

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        yield self.compose(question, passages)

    def compose(self, question: str, passages: list[Passage]) -> str:
        units = [u for i, p in enumerate(passages) for u in _statements(support_units(p, i))]
        if _WANTS_NUMBER.search(question):
            units = [u for u in units if re.search(r"\d", u.text)]
        elif _WANTS_DATE.search(question):
            units = [u for u in units if _HAS_DATE.search(u.text)]
        if not units:
            return REFUSAL_TEXT
        vectors = self._embed([question] + [_BULLET.sub("", u.text) for u in units])
        similarity = vectors[1:] @ vectors[0]
        terms = set(tokenize(question))
        weights = self.searcher.store.lexical.idf(terms)
        total = sum(weights.values()) or 1.0
        scores = []
        for unit, sim in zip(units, similarity):
            held = set(tokenize(unit.text))
            coverage = sum(w for t, w in weights.items() if t in held) / total
            score = 0.7 * float(sim) + 0.3 * coverage
            if _BULLET.match(unit.text):  # summary bullets are fragments; prefer full sentences
                score *= 0.85
            scores.append(score)
        order = np.argsort(scores)[::-1]
        best = scores[order[0]]
        if best < self.threshold:
            return REFUSAL_TEXT
        picked = [int(order[0])]
        for j in order[1:]:
            if len(picked) == self.max_sentences or scores[j] < 0.8 * best:
                break
            if max(float(vectors[1 + j] @ vectors[1 + k]) for k in picked) < 0.8:  # not a restatement
                picked.append(int(j))
        picked.sort(key=lambda j: (units[j].passage_index, units[j].start))
        return " ".join(f"{_as_sentence(units[j].text)} [{units[j].passage_index + 1}]" for j in picked)


def _is_statement(text: str) -> bool:
    """Sentences and list items, not headings."""
    return bool(_BULLET.match(text)) or text.rstrip().endswith((".", "!", "?", '"', "”", "’", ":"))


def _statements(units: list[Unit]) -> list[Unit]:
    """Sentences worth quoting; a sentence introducing a list ("... including:") takes its
    items along, since neither half says anything alone."""
    out: list[Unit] = []
    i = 0
    while i < len(units):
        unit = units[i]
        j = i + 1
        if unit.text.rstrip().endswith(":"):
            while j < len(units) and _BULLET.match(units[j].text):
                j += 1
        if j > i + 1:
            items = "; ".join(_BULLET.sub("", u.text).strip() for u in units[i + 1 : j])
            out.append(Unit(unit.passage_index, f"{unit.text.rstrip()} {items}.", unit.start, units[j - 1].end))
        elif _is_statement(unit.text):
            out.append(unit)
        i = j
    return out


def _as_sentence(text: str) -> str:
    text = _BULLET.sub("", text).strip()
    return text if text.endswith((".", "!", "?", '"', "”", "’")) else text.rstrip(":") + "."
