"""No model: answer with the passage sentences that best match the question.

Deterministic and fast. Each sentence is scored by embedding similarity to the question
plus how much of the question's rarer words it holds (weighted by idf over the whole
index, so a name that is in every passage counts for little). When even the best
sentence is weak, the articles do not say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..citations import REFUSAL_TEXT
from ..lexical import tokenize
from ..models import Passage
from ..relevance import HAS_DATE, WANTS_DATE, WANTS_NUMBER
from ..support import Unit, support_units
from ..text import BULLET
from . import CorpusView, Provider

if TYPE_CHECKING:
    from ..config import Settings


class ExtractiveProvider(Provider):
    name = "extractive"
    model = "extractive-v1"

    def __init__(self, corpus: CorpusView, threshold: float, max_sentences: int = 2):
        self.corpus = corpus
        self.threshold = threshold
        self.max_sentences = max_sentences

    @classmethod
    def from_settings(cls, settings: "Settings", corpus: CorpusView) -> "ExtractiveProvider":
        return cls(corpus, settings.relevance_threshold)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.corpus.embed(texts)

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        yield self.compose(question, passages)

    def compose(self, question: str, passages: list[Passage]) -> str:
        scored = self.score(question, passages)
        if not scored or not self.found(scored[0]):
            return REFUSAL_TEXT
        best = scored[0]
        picked = [best]
        for candidate in scored[1:]:
            if len(picked) == self.max_sentences or candidate.score < 0.8 * best.score:
                break
            if max(float(candidate.vector @ p.vector) for p in picked) < 0.8:  # not a restatement
                picked.append(candidate)
        picked.sort(key=lambda c: (c.unit.passage_index, c.unit.start))
        return " ".join(f"{_as_sentence(c.unit.text)} [{c.unit.passage_index + 1}]" for c in picked)

    def score(self, question: str, passages: list[Passage]) -> list["Scored"]:
        """The passages' statements that could answer ``question``, best first."""
        units = [u for i, p in enumerate(passages) for u in _statements(support_units(p, i))]
        # A sentence without a number (or a date) cannot answer a question only one answers,
        # however close its topic.
        if WANTS_NUMBER.search(question):
            units = [u for u in units if re.search(r"\d", u.text)]
        elif WANTS_DATE.search(question):
            units = [u for u in units if HAS_DATE.search(u.text)]
        if not units:
            return []
        vectors = self._embed([question] + [BULLET.sub("", u.text) for u in units])
        similarity = vectors[1:] @ vectors[0]
        weights = self.corpus.idf(set(tokenize(question)))
        total = sum(weights.values()) or 1.0
        scored = []
        for unit, sim, vector in zip(units, similarity, vectors[1:]):
            held = set(tokenize(unit.text))
            coverage = sum(w for t, w in weights.items() if t in held) / total
            score = 0.7 * float(sim) + 0.3 * coverage
            if BULLET.match(unit.text):  # summary bullets are fragments; prefer full sentences
                score *= 0.85
            scored.append(Scored(unit, score, vector))
        return sorted(scored, key=lambda c: -c.score)

    def found(self, best: "Scored") -> bool:
        """Whether the best statement answers the question at all."""
        return best.score >= self.threshold


@dataclass(frozen=True)
class Scored:
    unit: Unit
    score: float
    vector: np.ndarray  # the statement's embedding (to tell a restatement)


def _is_statement(text: str) -> bool:
    """Sentences and list items, not headings."""
    return bool(BULLET.match(text)) or text.rstrip().endswith((".", "!", "?", '"', "”", "’", ":"))


def _statements(units: list[Unit]) -> list[Unit]:
    """Sentences worth quoting; a sentence introducing a list ("... including:") takes its
    items along, since neither half says anything alone."""
    out: list[Unit] = []
    i = 0
    while i < len(units):
        unit = units[i]
        j = i + 1
        if unit.text.rstrip().endswith(":"):
            while j < len(units) and BULLET.match(units[j].text):
                j += 1
        if j > i + 1:
            items = "; ".join(BULLET.sub("", u.text).strip() for u in units[i + 1 : j])
            out.append(
                Unit(unit.passage_index, f"{unit.text.rstrip()} {items}.", unit.start, units[j - 1].end)
            )
        elif _is_statement(unit.text):
            out.append(unit)
        i = j
    return out


def _as_sentence(text: str) -> str:
    text = BULLET.sub("", text).strip()
    return text if text.endswith((".", "!", "?", '"', "”", "’")) else text.rstrip(":") + "."
