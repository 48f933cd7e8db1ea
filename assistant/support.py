"""How well a passage supports a sentence: the verifier's scoring, apart from its decisions.

A passage is cut into units (its sentences and list lines, with offsets in the article);
a sentence is scored against windows of one to a few consecutive units, by embedding
similarity plus the share of the sentence's content words (and all of its figures) the
window holds. `citations` decides with these scores which markers stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from .lexical import tokenize
from .models import Passage
from .text import BULLET, CITATION_MARKER, split_sentences

__all__ = ["SupportScorer", "Unit", "Window", "denies", "support_units", "numbers_in"]

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

# The verifier's weights, in one place (measured on the eval set; see evals/README.md).
SIMILARITY_WEIGHT = 0.5  # a quote's support: this much embedding similarity to the sentence ...
RECALL_WEIGHT = 0.5  # ... and this much of the sentence's content words found in it
LENGTH_PENALTY = 0.03  # taken off per sentence of quote beyond one
ECHO_WEIGHT = 0.5  # a word the sentence repeats from the question, held by the quote, counts this much
ON_TOPIC = 0.45  # a quote this similar to the question says what it asks, perhaps in other words
MARGIN = 0.2  # a cited passage this far behind the best-supporting one is replaced by it
PAIR_PART_FLOOR = 0.3  # two passages backing a sentence together: each must score this alone
PAIR_WORDS_EXTRA = 0.05  # a pair backed by words, not by the figures each states, needs this more


@dataclass(frozen=True)
class Unit:
    """A sentence (or list line) of a passage, with offsets in the article."""

    passage_index: int
    text: str
    start: int
    end: int


def support_units(passage: Passage, index: int) -> list[Unit]:
    units = []
    offset = 0
    for line in passage.text.split("\n"):
        for a, b in split_sentences(line):
            units.append(Unit(index, line[a:b], passage.start + offset + a, passage.start + offset + b))
        offset += len(line) + 1
    return units


def _content_terms(text: str) -> set[str]:
    return {t for t in tokenize(text) if not t.isdigit()}


def _recall(terms: set[str], given: set[str], held: frozenset, on_topic: bool = False) -> float:
    """The weighted share of a sentence's content ``terms`` that a quote ``held``. A word the
    sentence repeats from the question (``given``) counts half where the quote holds it:
    the sentence's own information is what needs support. Where the quote lacks it, it
    counts in full: an answer that keeps the question's words over a passage that does
    not say them is a near miss ("Fiona Marr earns $2.7 billion" to "How much does Fiona
    Marr earn?", over a passage where $2.7 billion is the price of a takeover).

    Except over a quote ``on_topic`` (see :meth:`SupportScorer.score_all`) whose words hold
    something of the sentence's own: there the question's words it lacks are left out. The
    answer to a question asked in other words than its passage's restates the question
    ("The Financial Times was given the government paper accusing the Chinese e-commerce
    giant" over "the memo, seen by the Financial Times, accuses Alibaba"), and only what
    it adds needs the quote."""
    if on_topic and (terms - given) & held:
        terms = {t for t in terms if t not in given or t in held}
    weight = {t: ECHO_WEIGHT if t in given and t in held else 1.0 for t in terms}
    total = sum(weight.values())
    return sum(v for t, v in weight.items() if t in held) / total if total else 0.0


# A denial, and what a denial's quote may say instead ("said the figures were wrong").
_DENIES = re.compile(
    r"\b(?:den(?:y|ies|ied|ying|ial)|reject(?:s|ed|ing)?|disput(?:e|es|ed|ing)|"
    r"dismiss(?:es|ed|ing)?|refut(?:e|es|ed|ing)|rebut(?:s|ted)?)\b",
    re.IGNORECASE,
)
_NEGATES = re.compile(
    r"\b(?:not|no|never|nothing|nobody|none|wrong|false|untrue|baseless|unfounded)\b|n[’']t\b", re.IGNORECASE
)


# An allegation, and the words that keep a sentence from stating one as fact.
_ALLEGES = re.compile(
    r"\b(?:accus(?:e|es|ed|ing|ation|ations)|alleg(?:e|es|ed|ing|ation|ations|edly))\b", re.IGNORECASE
)
_ATTRIBUTES = re.compile(
    r"\b(?:accus\w*|alleg\w*|claim\w*|said|says|say|told|tells|according|blam\w*|report\w*|"
    r"argu\w*|insist\w*|suspect\w*|believ\w*|warn\w*|charg\w*)\b",
    re.IGNORECASE,
)


# Where what a denial or an accusation is about ends: "denied the claims but declined to comment".
_SCOPE_END = re.compile(
    r"\b(?:but|however|while|whereas|although)\b|;|, and (?=\w+ (?:said|says)\b)", re.IGNORECASE
)


def _about(marker: re.Pattern, quote: str, sentence: str) -> bool:
    """Whether what ``sentence`` says is what ``quote`` denies or alleges: most of the words
    they share come after the ``marker`` word, before the clause ends. "... urged the SEC to
    delist 25 companies, citing alleged PLA ties" alleges the ties, not the urging."""
    found = marker.search(quote)
    if not found:
        return False
    rest = quote[found.end() :]
    end = _SCOPE_END.search(rest)
    scope = set(tokenize(rest[: end.start()] if end else rest))
    shared = set(tokenize(sentence)) & set(tokenize(quote))
    return bool(shared) and len(shared & scope) * 2 >= len(shared)


def denies(text: str) -> bool:
    """Whether ``text`` denies, disputes or negates something ("denied", "is not closing")."""
    return bool(_DENIES.search(text) or _NEGATES.search(text))


def _stance_clash(sentence: str, quote: str) -> bool:
    """Whether ``quote`` says something other than ``sentence`` for the denial or accusation
    it holds: "Corliss pumped dirty water into the brook" shares every word with "Corliss
    denied that it had pumped dirty water into the brook" and with "residents accused
    Corliss of pumping dirty water into the brook", and neither says it did; nor does a quote
    that only gives figures back "the trust denied the figures"."""
    if not _ATTRIBUTES.search(sentence) and _about(_ALLEGES, quote, sentence):
        return True  # an accusation stated as fact
    if _about(_DENIES, quote, sentence):
        return not denies(sentence)
    if _DENIES.search(sentence):
        return not denies(quote)
    return False


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "").lstrip("0") or "0" for n in _NUMBER.findall(text)}


@dataclass(frozen=True)
class Window:
    passage_index: int
    start: int
    end: int
    text: str
    vector: np.ndarray
    terms: frozenset
    numbers: frozenset
    size: int  # passage sentences in the window


class SupportScorer:
    """Scores how well each passage supports a sentence; built once per answer."""

    def __init__(
        self, passages: Sequence[Passage], embed: Callable[[list[str]], np.ndarray], max_window: int = 4
    ):
        self.passages = list(passages)
        self.embed = embed
        self.windows: list[Window] = []
        self._spans: list[range] = []  # the unit indexes (in its passage) each window covers
        units_by_passage = [support_units(p, i) for i, p in enumerate(self.passages)]
        self._units = units_by_passage
        self._unit_terms = [[frozenset(tokenize(u.text)) for u in units] for units in units_by_passage]
        all_units = [u for units in units_by_passage for u in units]
        vectors = embed([u.text.lstrip("-*• ") for u in all_units]) if all_units else np.zeros((0, 1))
        row = 0
        for i, units in enumerate(units_by_passage):
            passage = self.passages[i]
            # The writer sees the headline above the passage, and a figure it takes from there
            # ("... as the council blames 2019 repairs") is the article's own. Only its figures
            # count: its words would lend support to any sentence naming the story's subject
            # (a wrong "the Westbrook strike lasted ten hours" passed on the headline's
            # "Westbrook Bus and Tram Drivers Walk Out").
            headline = passage.title if passage.title and passage.title not in passage.text else ""
            headline_numbers = frozenset(numbers_in(headline))
            for a in range(len(units)):
                for b in range(a, min(a + max_window, len(units))):
                    first, last = units[a], units[b]
                    text = passage.text[first.start - passage.start : last.end - passage.start]
                    mean = vectors[row + a : row + b + 1].mean(axis=0)
                    mean = mean / max(float(np.linalg.norm(mean)), 1e-9)
                    self.windows.append(
                        Window(
                            i,
                            first.start,
                            last.end,
                            text,
                            mean,
                            frozenset(tokenize(text)),
                            frozenset(numbers_in(CITATION_MARKER.sub(" ", text))) | headline_numbers,
                            b - a + 1,
                        )
                    )
                    self._spans.append(range(a, b + 1))
            row += len(units)

    @staticmethod
    def support(similarity: float, recall: float, extra_sentences: int = 0) -> float:
        """The support score of a quote for a sentence: half its meaning (embedding
        similarity), half its words (weighted recall of the sentence's content terms), less
        a little per sentence beyond one, since a longer quote holds more words by chance."""
        return (
            SIMILARITY_WEIGHT * max(similarity, 0.0)
            + RECALL_WEIGHT * recall
            - LENGTH_PENALTY * extra_sentences
        )

    def score_all(self, sentences: list[str], question: str = "") -> np.ndarray:
        """[sentence, window] support scores in 0..1. Words the sentence merely repeats from
        the question count half: the sentence's own information is what needs support.

        A window at least ``ON_TOPIC`` similar to the question is about what it asks, so a
        sentence restating the question needs the window to hold only what it adds
        (:func:`_recall`); unless the sentence states a figure of its own. A passage holds
        many figures, each bound to its event by the words around it, and only the
        question's words tie the figure to the event asked about ("notified regulators on
        April 27" over "discovered the intrusion on April 27")."""
        if not self.windows or not sentences:
            return np.zeros((len(sentences), len(self.windows)))
        vectors = np.stack([w.vector for w in self.windows])
        cos = self.embed(sentences) @ vectors.T
        self._cos, self._sentences, self._question = cos, sentences, question
        if question:
            on_topic = (self.embed([question]) @ vectors.T)[0] >= ON_TOPIC
        else:
            on_topic = np.zeros(len(self.windows), dtype=bool)
        scores = np.zeros_like(cos)
        given = _content_terms(question)
        for s, sentence in enumerate(sentences):
            terms = _content_terms(sentence)
            numbers = numbers_in(sentence) - numbers_in(question)
            restatable = on_topic & (not numbers)  # a sentence with a figure of its own never is
            clashes: dict[Unit, bool] = {}  # each passage sentence judged once, in whichever windows
            for w, window in enumerate(self.windows):
                recall = _recall(terms, given, window.terms, bool(restatable[w]))
                score = self.support(float(cos[s, w]), recall, window.size - 1)
                if numbers - window.numbers:  # a number the passage does not state: no support
                    score = 0.0
                elif score > 0 and self._clashes(sentence, terms, w, clashes):
                    score = 0.0
                scores[s, w] = score
        return scores

    def _clashes(self, sentence: str, terms: set[str], w: int, judged: dict[Unit, bool]) -> bool:
        """Whether the sentence of window ``w`` holding most of ``terms`` (the one a claim is
        read from) accuses or denies what ``sentence`` states (:func:`_stance_clash`)."""
        i = self.windows[w].passage_index
        unit = self._units[i][max(self._spans[w], key=lambda k: len(terms & self._unit_terms[i][k]))]
        if unit not in judged:
            judged[unit] = _stance_clash(sentence, unit.text)
        return judged[unit]

    def pair_support(
        self, s: int, row: np.ndarray, candidates: int = 3, floor: float = 0.0
    ) -> tuple[float, int, int] | None:
        """The best two passages that together support sentence ``s`` (a comparison across
        two articles is in neither alone): recall and numbers over the union of their best
        windows, similarity of the closer one. Returns (score, passage i, passage j)."""
        sentence = self._sentences[s]
        given = _content_terms(self._question)
        terms = _content_terms(sentence)
        numbers = self._own_numbers(s)
        if not terms:
            return None
        # The most relevant windows of each passage; each must hold part of the claim alone.
        tops: dict[int, list[int]] = {}
        for w in np.argsort(-self._cos[s]):
            window = self.windows[w]
            alone = self.support(float(self._cos[s, w]), _recall(terms, given, window.terms))
            if alone < floor:
                continue
            picks = tops.setdefault(window.passage_index, [])
            if len(picks) < candidates:
                picks.append(int(w))
        best = None
        passages = sorted(tops)
        clashes: dict[Unit, bool] = {}  # as in score_all: each passage sentence judged once
        for x, i in enumerate(passages):
            for j in passages[x + 1 :]:
                for wi in tops[i]:
                    for wj in tops[j]:
                        a, b = self.windows[wi], self.windows[wj]
                        if numbers - (a.numbers | b.numbers):
                            continue
                        if any(self._clashes(sentence, terms, w, clashes) for w in (wi, wj)):
                            continue  # an accusation or a denial read as the claim itself
                        recall = _recall(terms, given, a.terms | b.terms)
                        similarity = max(float(self._cos[s, wi]), float(self._cos[s, wj]))
                        score = self.support(similarity, recall, a.size + b.size - 2)
                        if best is None or score > best[0]:
                            best = (score, i, j)
        return best

    def numbers_span_passages(self, s: int) -> bool:
        """Whether sentence ``s`` states numbers that no one passage holds but two together
        do: a sentence drawing on two reports (a figure and its update) is backed by both."""
        numbers = self._own_numbers(s)
        if len(numbers) < 2:
            return False
        held = [
            frozenset().union(*(w.numbers for w in self.windows if w.passage_index == i))
            for i in range(len(self.passages))
        ]
        if any(numbers <= h for h in held):
            return False
        return any(numbers <= a | b for x, a in enumerate(held) for b in held[x + 1 :])

    def _own_numbers(self, s: int) -> set[str]:
        """The numbers sentence ``s`` states beyond those the question gave it."""
        return numbers_in(self._sentences[s]) - numbers_in(self._question)

    def with_its_list(self, window: Window, most: int = 12) -> Window:
        """``window`` carried over the list it introduces, when it ends with a colon and
        list items follow in its passage: "data including:" alone would not show the user
        the items the answer names. Its score stays the window's own."""
        if not window.text.rstrip().endswith(":"):
            return window
        units = self._units[window.passage_index]
        after = [u for u in units if u.start >= window.end]
        items = []
        for unit in after[:most]:
            if not BULLET.match(unit.text):
                break
            items.append(unit)
        if not items:
            return window
        passage = self.passages[window.passage_index]
        end = items[-1].end
        text = passage.text[window.start - passage.start : end - passage.start]
        return replace(window, end=end, text=text, size=window.size + len(items))

    def best_window(self, row: np.ndarray, passage_index: int) -> tuple[float, Window | None]:
        best, found = -1.0, None
        for w, window in enumerate(self.windows):
            if window.passage_index == passage_index and row[w] > best:
                best, found = float(row[w]), window
        return best, found
