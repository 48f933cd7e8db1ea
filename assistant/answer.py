"""The answering chain: question -> hybrid retrieval -> numbered passages -> provider ->
citation verification -> :class:`Answer`.

``Answerer.stream`` yields events as they happen (the passages found, each piece of text
the provider writes, then the verified answer), so a terminal can show progress while the
final answer shown, with its citations, is always the verified one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Generator, Iterator, Sequence, Union

import numpy as np

from .accounts import with_other_accounts
from .citations import REFUSAL_TEXT, Verified, verify
from .config import Settings
from .errors import QuestionError
from .followup import Rewriter, Turn, make_rewriter
from .invisible import strip_invisible
from .models import Answer, AnswerSentence, Passage, SearchHit
from .providers import Provider, TokenOdds
from .recency import as_of_now
from .relevance import gives_kind
from .retrieval import Searcher, SearchFilter

__all__ = ["Answerer", "Rewritten", "Retrieved", "Piece", "Done", "AnswerEvent"]


@dataclass(frozen=True)
class Retrieved:
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True)
class Rewritten:
    """The follow-up question, rewritten to stand alone."""

    question: str


@dataclass(frozen=True)
class Piece:
    text: str


@dataclass(frozen=True)
class Done:
    answer: Answer


AnswerEvent = Union[Rewritten, Retrieved, Piece, Done]


@dataclass(frozen=True)
class _Written:
    """What the provider wrote, verified: its raw text, the verifier's result, the writer's
    own odds of refusing (None without token odds), whether it was reconsidered, and when
    the writing ended."""

    raw: str
    verified: Verified
    odds: float | None
    decision: str  # "answered", "reconsidered" or "extractive-fallback"
    generated: float


def _diverse(hits: list[SearchHit], k: int, per_article: int = 0) -> tuple[SearchHit, ...]:
    """The best ``k`` hits; with ``per_article``, at most that many from one article while
    others qualify (so a question spanning two articles gets both into the model's few
    passages, at the cost of the third passage of the article that answers)."""
    if not per_article:
        return tuple(hits[:k])
    chosen: list[SearchHit] = []
    counts: dict[str, int] = {}
    for hit in hits:
        if len(chosen) < k and counts.get(hit.passage.article_id, 0) < per_article:
            chosen.append(hit)
            counts[hit.passage.article_id] = counts.get(hit.passage.article_id, 0) + 1
    for hit in hits:  # fewer articles than slots: fill up in rank order
        if len(chosen) >= k:
            break
        if hit not in chosen:
            chosen.append(hit)
    return tuple(sorted(chosen[:k], key=hits.index))


def _given(hits: list[SearchHit], k: int, per_article: int, dense_seats: int) -> tuple[SearchHit, ...]:
    """The ``k`` hits the model is given: the best by fused rank (:func:`_diverse`), except
    that the dense search's first ``dense_seats`` always have a seat, taking the last ones."""
    chosen = list(_diverse(hits, k, per_article))
    seated = [h for h in hits if h.dense_rank and h.dense_rank <= dense_seats and h not in chosen][:k]
    return tuple(chosen[: k - len(seated)] + seated)


def _reading_order(passage: Passage) -> tuple[str, int]:
    return passage.article_id, passage.start


def _whole_index_order(best: Passage, others: Sequence[Passage]) -> list[Passage]:
    """The order a model reads the passages in when it is given the whole index: the best
    first (a small model leans on what it reads first), the others in reading order. Rank
    order would make one prompt per ordering, each read anew (a chat's first question on
    the sample article waited 5.8 s for its first token); this way there are as many
    prompts as passages, and the warm-up reads them all."""
    return [best, *sorted(others, key=_reading_order)]


# Where a refusal is decided: once a reply starts "The articles do not", it refuses.
_REFUSAL_OPENING = " ".join(REFUSAL_TEXT.split()[:4]).casefold()


def _continues(done: str, token: str, target: str) -> bool:
    spelled = (done + token).lstrip().casefold()
    return len(spelled) > len(done.lstrip()) and target.startswith(spelled[: len(target)])


def _refusal_path(written: Sequence[TokenOdds], target: str) -> Iterator[tuple[str, TokenOdds, float, bool]]:
    """Along the tokens the model wrote, up to where it turned away from the refusal's
    opening (or finished spelling it): the text before each token, the token, the chance the
    model gave to going on with the refusal there, and whether it did."""
    done = ""
    for token in written:
        if len(done.lstrip()) >= len(target):
            return
        chance = min(sum(math.exp(lp) for alt, lp in token.top.items() if _continues(done, alt, target)), 1.0)
        stayed = _continues(done, token.token, target)
        yield done, token, chance, stayed
        if not stayed:
            return
        done += token.token


def refusal_odds(written: Sequence[TokenOdds], target: str = _REFUSAL_OPENING) -> float | None:
    """The model's own probability, read from its first tokens, that it replies with the
    refusal: along the tokens it wrote while they spell the refusal's opening, times the
    chance of the refusal's next token where it turned away. Free to read (the tokens'
    probabilities come with the answer) and the model's own doubt, where phrases in its
    answer can only show what it chose. None without token probabilities."""
    if not written:
        return None
    odds = 1.0
    for _, _, chance, stayed in _refusal_path(written, target):
        odds *= (chance or 1.0) if stayed else chance
    return odds


def _turn_away(written: Sequence[TokenOdds], target: str = _REFUSAL_OPENING) -> str | None:
    """The likeliest opening of the reply that is not the refusal: at each token the model
    wrote while spelling the refusal's opening, the best alternative that leaves it, weighed
    by the chance of getting there. None if it never had another way to go."""
    reach, best, best_chance = 1.0, None, 0.0
    for done, token, chance, stayed in _refusal_path(written, target):
        if not stayed:
            break
        for alt, lp in token.top.items():
            if alt.strip() and not _continues(done, alt, target) and reach * math.exp(lp) > best_chance:
                best, best_chance = (done + alt).lstrip(), reach * math.exp(lp)
        reach *= chance
    return best


def _held_while_refusing(
    stream: Iterator[str], pieces: list[str], timings: dict, started: float
) -> Iterator[Piece]:
    """The provider's pieces as they come, collected in ``pieces``, except that text which so
    far only spells the refusal is held back (it may be reconsidered; the final answer
    shows a refusal anyway), so a refusal never flashes on screen before an answer."""
    held: list[str] | None = []
    for piece in stream:
        timings.setdefault("first_token_s", time.perf_counter() - started)
        pieces.append(piece)
        if held is None:
            yield Piece(piece)
            continue
        held.append(piece)
        so_far = " ".join("".join(pieces).split()).casefold()
        if so_far and REFUSAL_TEXT.casefold().startswith(so_far):
            continue
        yield from (Piece(p) for p in held)
        held = None


def check_question(question: str, max_chars: int) -> str:
    """The question, stripped; a :class:`QuestionError` if there is nothing to ask or far
    too much (a pasted article is not a question)."""
    question = question.strip()
    if not strip_invisible(question).strip():  # invisible characters only: nothing to ask
        raise QuestionError("empty question: type a question about the articles")
    if len(question) > max_chars:
        raise QuestionError(
            f"question too long ({len(question):,} characters; the limit is {max_chars:,}): "
            "ask about one thing at a time"
        )
    return question


class Answerer:
    def __init__(
        self, searcher: Searcher, provider: Provider, settings: Settings, rewriter: Rewriter | None = None
    ):
        self.searcher = searcher
        self.provider = provider
        self.settings = settings
        self.rewrite = rewriter or make_rewriter(settings, provider)
        self._reading_ahead = True  # until a question is asked or the chat ends

    def warm_up(self) -> None:
        """Get ready for the first question while the user types: load the provider's
        model and read ahead the prompts' fixed openings (the answer prompt's system
        message, and the follow-up rewrite's instructions). When the whole index holds no
        more passages than a question is given, as with the sample article, every question
        reads all of them and only which comes first depends on the question
        (:func:`_whole_index_order`): then each of those few prompts is read ahead whole."""
        self.provider.warm_up()
        if not self.provider.reads_prompts:  # nothing to read ahead
            return
        orders: list[list[Passage]] = [[]]
        if self._reads_whole_index(self.settings.answer_k):
            everything = sorted(self.searcher.all_passages(), key=_reading_order)
            orders = [
                _whole_index_order(first, [p for p in everything if p is not first]) for first in everything
            ]
        for passages in orders:
            if not self._reading_ahead:  # a question came (leave it the cores) or the chat ended
                return
            self.provider.read_ahead_answer(passages)
        if self._reading_ahead:
            self.rewrite.read_ahead()

    def close(self) -> None:
        """Stop reading ahead (at the model's next batch) and release the provider."""
        self._reading_ahead = False
        self.provider.close()

    def _reads_whole_index(self, k: int) -> bool:
        """Whether a model provider is given every passage of the index for any question.
        (The lexical index in memory holds every passage: counting it costs no round trip
        to Chroma, which this would otherwise add to every question.)"""
        if not self.provider.reads_prompts or self.settings.passage_focus_tokens:
            return False
        return 0 < self.searcher.passage_count() <= k

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.searcher.embed(texts)

    def _focus(self, question: str, passages: list) -> list:
        """What the model reads: with a model provider and a focus budget, each passage's
        question-related part (its prefill is the latency); otherwise whole passages."""
        if not self.settings.passage_focus_tokens or not self.provider.reads_prompts:
            return passages
        from .focus import focus_passages

        return focus_passages(question, passages, self._embed, self.settings.passage_focus_tokens)

    def ask(
        self,
        question: str,
        k: int | None = None,
        where: SearchFilter = SearchFilter(),
        history: Sequence[Turn] = (),
    ) -> Answer:
        for event in self.stream(question, k, where, history):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")  # pragma: no cover

    def stream(
        self,
        question: str,
        k: int | None = None,
        where: SearchFilter = SearchFilter(),
        history: Sequence[Turn] = (),
    ) -> Iterator[AnswerEvent]:
        """Events for one question; ``history`` holds the earlier turns of a conversation,
        used to make a follow-up question stand alone before retrieval."""
        question = check_question(question, self.settings.max_question_chars)
        self._reading_ahead = False
        standalone = self.rewrite(question, history) if history else question
        if standalone != question:
            yield Rewritten(standalone)
        for event in self._answer(standalone, k, where):
            if isinstance(event, Done):
                event = Done(replace(event.answer, question=question, standalone_question=standalone))
            yield event

    def passages_for(
        self, question: str, k: int, where: SearchFilter = SearchFilter()
    ) -> tuple[SearchHit, ...]:
        """The ``k`` passages the writer is given for ``question`` (:func:`_given` over the
        fused candidates); the hostile eval samples its questions by them too."""
        s = self.settings
        candidates = self.searcher.search(question, s.search_candidates, where)
        return _given(candidates, k, s.answer_per_article, s.answer_dense_seats)

    def _answer(self, question: str, k: int | None, where: SearchFilter) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        k = k or self.settings.answer_k
        hits = self.passages_for(question, k, where)
        retrieved = time.perf_counter()
        yield Retrieved(hits)
        timings = {"retrieve_s": retrieved - started}
        if not hits:
            yield Done(self._refusal(question, hits, timings, started, raw=""))
            return

        passages = [h.passage for h in hits]
        if self._reads_whole_index(k):
            passages = _whole_index_order(passages[0], passages[1:])
        asked = question  # as the writer reads it
        if self.settings.latest_for_now:
            passages, asked = as_of_now(question, passages)
        shown = self._focus(asked, passages)
        timings["focus_s"] = time.perf_counter() - retrieved
        written = yield from self._write(asked, passages, shown, timings, started)
        written = self._extractive_fallback(asked, passages, written)
        accounts = with_other_accounts(
            written.verified, passages, self._embed, self.settings.other_account_similarity
        )
        written = replace(written, verified=accounts)
        generated = written.generated
        timings.update(generate_s=generated - retrieved, verify_s=time.perf_counter() - generated)
        timings.setdefault("first_token_s", generated - started)
        yield Done(self._judged(question, hits, written, timings, started))

    def _write(
        self, question: str, passages: list[Passage], shown: list[Passage], timings: dict, started: float
    ) -> Generator[Piece, None, "_Written"]:
        """The provider's answer from the passages ``shown`` to it, as pieces while it writes,
        then verified against the whole ``passages``; a torn refusal is reconsidered."""
        pieces: list[str] = []
        read_odds: list[TokenOdds] | None = [] if self._reads_odds() else None
        if read_odds is None:
            stream = self.provider.stream(question, shown)
        else:
            stream = self.provider.stream_with_odds(question, shown, read_odds)
        yield from _held_while_refusing(stream, pieces, timings, started)
        generated = time.perf_counter()
        raw = "".join(pieces)
        verified = self._verify(raw, passages, question)
        written = _Written(raw, verified, refusal_odds(read_odds or ()), "answered", generated)
        odds = written.odds
        torn = verified.refused and odds is not None and odds < self.settings.retry_below
        opening = _turn_away(read_odds) if torn else None  # type: ignore[arg-type]
        if opening:
            again = self._reconsider(question, passages, shown, opening, written, timings, started)
            written = yield from again
        return written

    def _reconsider(
        self, question: str, passages: list[Passage], shown: list[Passage], opening: str, refused: "_Written",
        timings: dict, started: float,
    ) -> Generator[Piece, None, "_Written"]:  # fmt: skip
        """The model refused, but was torn: let it write the answer it nearly wrote instead,
        from its likeliest opening that is not the refusal. The verifier judges it as any;
        if it refuses that too, the refusal stands."""
        yield Piece(opening)
        again: list[str] = [opening]
        continued = self.provider.stream_from(question, shown, opening)
        yield from _held_while_refusing(continued, again, timings, started)
        generated = time.perf_counter()
        second = self._verify("".join(again), passages, question)
        if second.refused:
            return replace(refused, generated=generated)
        return _Written("".join(again), second, refused.odds, "reconsidered", generated)

    def _extractive_fallback(self, question: str, passages: list[Passage], written: "_Written") -> "_Written":
        """A model's refusal (or an answer the verifier refused) where a passage sentence
        matches the question closely (the extractive provider's score, at least
        ``extractive_fallback_above``) gives way to that sentence, verified as any answer:
        the model refused a claim and its denial side by side that either answers alone."""
        bar = self.settings.extractive_fallback_above
        if not written.verified.refused or bar >= 1.0:
            return written
        from .providers.extractive import ExtractiveProvider

        raw = ExtractiveProvider(self.searcher, bar).compose(question, passages)
        verified = self._verify(raw, passages, question)
        if verified.refused:
            return written
        return _Written(raw, verified, written.odds, "extractive-fallback", written.generated)

    def _verify(self, raw: str, passages: list[Passage], question: str) -> Verified:
        return verify(raw, passages, self._embed, self.settings.support_threshold, question=question)

    def _judged(
        self, question: str, hits: tuple[SearchHit, ...], written: "_Written", timings: dict, started: float
    ) -> Answer:
        """The answer shown: the verified one, or a refusal when the verifier or the writer's
        own odds say so, or when it lacks the kind of thing the question asks for."""
        verified, odds, raw = written.verified, written.odds, written.raw
        if verified.refused:
            return self._refusal(question, hits, timings, started, raw, verified.repairs, odds)
        factual = [s.text for s in verified.sentences if s.factual]
        if self.settings.answer_gives_asked_kind and not gives_kind(question, factual):
            # "How much ...?" answered with no quantity: backed, but an answer to another question.
            return self._refusal(
                question, hits, timings, started, raw, verified.repairs, odds, "off-question"
            )
        if odds is not None and odds > self.settings.refuse_above:
            # The model all but refused: its answer is more likely a near miss than the answer.
            return self._refusal(question, hits, timings, started, raw, verified.repairs, odds, "doubted")
        timings["total_s"] = time.perf_counter() - started
        return Answer(
            question=question,
            text=verified.text,
            sentences=verified.sentences,
            citations=verified.citations,
            refused=False,
            passages=hits,
            provider=self.provider.name,
            model=self.provider.model,
            timings=timings,
            repairs=verified.repairs,
            raw_text=raw,
            settings_hash=self.settings.fingerprint(),
            refusal_odds=odds,
            decision=written.decision,
        )

    def _reads_odds(self) -> bool:
        """Whether the writer's own odds of refusing are read (free: they come with its tokens)."""
        return self.settings.read_refusal_odds and self.provider.gives_token_odds

    def _refusal(
        self, question, hits, timings, started, raw, repairs=None, odds=None, decision="refused"
    ) -> Answer:
        from .models import Repairs

        timings.setdefault("generate_s", 0.0)
        timings["total_s"] = time.perf_counter() - started
        return Answer(
            question=question,
            text=REFUSAL_TEXT,
            sentences=(AnswerSentence(REFUSAL_TEXT, (), factual=False),),
            citations=(),
            refused=True,
            passages=hits,
            provider=self.provider.name,
            model=self.provider.model,
            timings=timings,
            repairs=repairs or Repairs(),
            raw_text=raw,
            settings_hash=self.settings.fingerprint(),
            refusal_odds=odds,
            decision=decision,
        )
