"""Other accounts: when a passage of another article gives a different figure for what an
answer states (a union's count and the employer's, a first estimate and a later one), or
denies what it states or states what it denies (a residents' accusation and the company's
denial), the answer shows that account too, quoted and cited, with who published it and when.

Given a claim and its denial side by side, the small local model answers from one of them;
the verifier can only check what it wrote, not what it left out. So after verification this
step looks, among the passages of articles the answer does not cite, for a sentence that
says nearly the same thing as an answer sentence (embedding similarity) but with figures the
answer does not state, and appends it word for word: a quote cannot misstate its article,
and the reader sees both sides with their sources.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .citations import Verified
from .models import AnswerSentence, Citation, Passage
from .support import Unit, denies, numbers_in, support_units

__all__ = ["with_other_accounts"]

_YEAR = re.compile(r"^(?:19|20)\d\d$")
_MOST_ACCOUNTS = 2  # other articles quoted at most, the closest first


def _figures(text: str) -> set[str]:
    """The numbers of ``text`` that can disagree (a year names when, not how many)."""
    return {n for n in numbers_in(text) if not _YEAR.match(n)}


def _who(passage: Passage) -> str:
    """Who published the passage's article and when, as far as it says; else its headline."""
    source = passage.author or passage.site or f"“{passage.title}”"
    return f"{source} reported on {passage.published}" if passage.published else f"{source} reported"


def with_other_accounts(
    verified: Verified,
    passages: Sequence[Passage],
    embed: Callable[[list[str]], np.ndarray],
    similarity: float,
) -> Verified:
    """``verified`` with, for at most two uncited articles among ``passages``, the sentence
    closest to an answer sentence (at least ``similarity``) that states figures the answer
    sentence does not, or denies where it does not (or the reverse). Unchanged for a refusal,
    or with ``similarity`` at 1 (off)."""
    if verified.refused or similarity >= 1.0:
        return verified
    cited = {c.passage.article_id for c in verified.citations}
    stated = [s for s in verified.sentences if s.factual]
    units = [u for i, p in enumerate(passages) if p.article_id not in cited for u in support_units(p, i)]
    others = [(u, _figures(u.text)) for u in units]
    if not stated or not others:
        return verified
    closeness = embed([s.text for s in stated]) @ embed([u.text for u, _ in others]).T
    best: dict[str, tuple[float, Unit]] = {}
    for a, sentence in enumerate(stated):
        own, own_denies = _figures(sentence.text), denies(sentence.text)
        for b, (unit, figures) in enumerate(others):
            score = float(closeness[a, b])
            article = passages[unit.passage_index].article_id
            differs = (own and figures - own) or denies(unit.text) != own_denies
            if differs and score >= similarity and score > best.get(article, (-1.0, unit))[0]:
                best[article] = (score, unit)
    picked = sorted(best.values(), key=lambda item: -item[0])[:_MOST_ACCOUNTS]
    return _appended(verified, passages, picked) if picked else verified


def _appended(verified: Verified, passages: Sequence[Passage], picked: list[tuple[float, Unit]]) -> Verified:
    sentences, citations, rendered = list(verified.sentences), list(verified.citations), [verified.text]
    for score, unit in picked:
        passage = passages[unit.passage_index]
        n = len(citations) + 1
        quote = unit.text
        text = f"{_who(passage)}: “{quote}”"
        sentences.append(AnswerSentence(text, (n,), quotes=(quote,)))
        citations.append(Citation(n, passage, quote, unit.start, unit.end, round(score, 4)))
        rendered.append(f"{text} [{n}]")
    return replace(verified, text=" ".join(rendered), sentences=tuple(sentences), citations=tuple(citations))
