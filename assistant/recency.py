"""What a question about the present reads: each story's latest report, not the first.

News changes: a later article updates an earlier one ("evacuations rise to 5,600"), and
retrieval ranks the earlier report as readily as the update (the first report often words
things the way the question does). Given both, the small local model answered "how many
vehicles are being diverted by the latest count?" with the first report's estimate, and
"when is the bridge now expected to reopen?" with its first forecast, whichever passage
came first. So for a question about how things stand ("now", "latest", "so far", "still"),
the passages of a story's earlier dated articles are left out when a later one of the
same story is among them, and the writer reads the question without its "now" (the
passages settle it). Other questions read every passage: "how did the figure change"
needs both reports."""

from __future__ import annotations

import re
from typing import Sequence

from .models import Passage

__all__ = ["as_of_now", "asks_about_now", "without_now", "same_story", "latest_only"]

# The words that ask how things stand now; one list for telling such a question and for
# taking its "now" out.
_NOW_WORDS = r"now|currently|so far|still|yet|to date|at present|these days|as (?:it|things) stands?"
_ABOUT_NOW = re.compile(rf"\b(?:latest|most recent(?:ly)?|{_NOW_WORDS})\b", re.IGNORECASE)
# ... with what they hang on ("by the latest count"), for the question as the model reads
# it once the passages hold only the latest reports.
_NOW_PHRASE = re.compile(
    r",?\s*\b(?:(?:by|according to|as of|in|on) (?:the )?(?:latest|most recent) "
    rf"(?:count|figures?|reports?|estimates?|update|tally|numbers?)|{_NOW_WORDS})\b",
    re.IGNORECASE,
)
_LATEST_WORD = re.compile(r"\b(?:latest|most recent)\s+", re.IGNORECASE)
_TITLE_WORD = re.compile(r"[^\W\d_]{3,}")
_TITLE_STOP = frozenset(
    "after again against amid and are as but for from has have into its not off over says said than that "
    "the their then this to under until was were what when which while who will with".split()
)


def asks_about_now(question: str) -> bool:
    """Whether ``question`` asks how things stand now rather than at some point."""
    return bool(_ABOUT_NOW.search(question))


def without_now(question: str) -> str:
    """``question`` without the words that ask about now ("How many are evacuated now?"
    becomes "How many are evacuated?"): once only the latest report of a story is given,
    they only stand between a small model and the sentence that answers (it refused
    "... diverted through Elsby by the latest count?" over a passage saying "about 5,200
    vehicles a day are being diverted through Elsby")."""
    stripped = _LATEST_WORD.sub("", _NOW_PHRASE.sub("", question))
    stripped = re.sub(r"\s+([?.,!])", r"\1", " ".join(stripped.split()))
    return stripped if len(stripped.split()) >= 3 else question


def _title_words(title: str) -> set[str]:
    return {w.casefold() for w in _TITLE_WORD.findall(title)} - _TITLE_STOP


def same_story(a: Passage, b: Passage) -> bool:
    """Whether two articles report the same story: their headlines share two or more words
    that say what it is about ("Marston Viaduct Closed ..." and "Marston Viaduct to Stay
    Shut ..."). Headlines are the one thing every article has that names its story."""
    return a.article_id == b.article_id or len(_title_words(a.title) & _title_words(b.title)) >= 2


def latest_only(passages: Sequence[Passage]) -> list[Passage]:
    """``passages`` without those of an article that a later article of the same story
    among them supersedes (undated passages and single reports stay)."""
    newest: dict[int, str] = {}
    for i, passage in enumerate(passages):
        if passage.published:
            story = [o.published for o in passages if o.published and same_story(passage, o)]
            newest[i] = max(story)
    return [p for i, p in enumerate(passages) if i not in newest or p.published == newest[i]]


def as_of_now(question: str, passages: Sequence[Passage]) -> tuple[list[Passage], str]:
    """The passages a question reads and the question as the writer reads it: for a
    question about now over a story told in several dated articles, the latest article's
    passages and the question without its "now"; otherwise both unchanged."""
    if not asks_about_now(question):
        return list(passages), question
    latest = latest_only(passages)
    if len(latest) == len(passages):
        return latest, question
    return latest, without_now(question)
