"""Follow-up questions: rewrite a question that leans on the conversation ("Did it say
whether it ever worked with the PLA?") into one that stands alone ("Did Alibaba say
whether Alibaba ever worked with the PLA?") before retrieval.

Two ways, chosen by the ``followup_rewrite`` setting: rules (pronouns and ellipses take
the main entity of the previous turn; deterministic and instant, used with the extractive
provider) or the provider's model with ``prompts/rewrite_*.txt``, given the most recent
turns bounded by tokens. A model's rewrite that does not look like a question falls back
to the rules. Only questions that lean on the conversation are rewritten at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from .config import Settings
    from .prompts import PromptSet
    from .providers import Provider

__all__ = [
    "Turn",
    "Rewriter",
    "needs_rewrite",
    "rewrite_by_rules",
    "RuleRewriter",
    "main_entity",
    "bounded_history",
    "render_history",
    "LLMRewriter",
    "make_rewriter",
]


class Rewriter(Protocol):
    def __call__(self, question: str, history: Sequence["Turn"]) -> str:
        """The question standing alone, given the earlier turns."""
        ...

    def read_ahead(self) -> None:
        """Prepare for the first follow-up while the user types (a model reads its prompt)."""
        ...


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str = ""


_QUESTION_WORDS = {
    "what", "who", "whom", "whose", "which", "when", "where", "why", "how", "did", "does", "do", "is", "are",
    "was", "were", "can", "could", "will", "would", "should", "has", "have", "had", "the", "a", "an", "and",
    "but", "or", "so", "according", "in", "on", "at", "for", "of", "to", "it", "its", "they", "their", "he",
    "she", "his", "her", "this", "that", "these", "those", "tell", "say", "said", "any", "also", "then",
}  # fmt: skip
_ENTITY = re.compile(r"[A-Z][\w’'&.-]*(?:\s+(?:of|the|and|for|de)\s+[A-Z][\w’'&.-]*|\s+[A-Z][\w’'&.-]*)*")
_THING = re.compile(r"\b(it|they|them)\b", re.IGNORECASE)
_THINGS_OF = re.compile(r"\b(its|their)\b", re.IGNORECASE)
_PERSON = re.compile(r"\b(he|she|him)\b", re.IGNORECASE)
_PERSONS_OF = re.compile(r"\b(his|her)\b", re.IGNORECASE)
_ORGANISATION_WORDS = re.compile(
    r"\b(?:Inc|Corp|Ltd|Group|Company|Motors|Health|Cement|Chemicals|Therapeutics|Photonics|United|Council|Authority|"
    r"Committee|Commission|House|Department|Agency|Cloud|Bank|Airlines?)\b"
)
_DEPENDENT = re.compile(
    r"\b(it|its|they|them|their|he|she|him|his|her|this|that|these|those|the (?:company|firm|group|agency|"
    r"report|memo|deal|second|first|other|latter|former)|there)\b|^(?:and|what about|how about|also|but)\b",
    re.IGNORECASE,
)


def needs_rewrite(question: str, history: list[Turn]) -> bool:
    return bool(history) and bool(_DEPENDENT.search(question.strip()))


def _entities(text: str) -> list[str]:
    found = []
    for match in _ENTITY.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in _QUESTION_WORDS:
            words.pop(0)
        while words and words[-1].lower() in _QUESTION_WORDS:
            words.pop()
        if words:
            found.append(re.sub(r"(?:’s|'s)$", "", " ".join(words).rstrip(".’'")))
    return found


def main_entity(text: str) -> str | None:
    """The first name-like phrase of ``text`` that is not just a question word."""
    found = _entities(text)
    return found[0] if found else None


def _person(text: str) -> str | None:
    """A name that looks like a person's: two or more capitalised words, not an organisation."""
    for entity in _entities(text):
        if len(entity.split()) >= 2 and not _ORGANISATION_WORDS.search(entity):
            return entity
    return None


def rewrite_by_rules(question: str, history: Sequence[Turn]) -> str:
    """Put the previous turn's main entity where the question points back at it."""
    if not needs_rewrite(question, history):
        return question
    last = history[-1]
    entity = main_entity(last.question) or main_entity(last.answer)
    person = _person(last.question) or _person(last.answer)
    rewritten = question
    if entity:
        rewritten = _THINGS_OF.sub(f"{entity}’s", rewritten)
        rewritten = _THING.sub(entity, rewritten)
    if person:
        rewritten = _PERSONS_OF.sub(f"{person}’s", rewritten)
        rewritten = _PERSON.sub(person, rewritten)
    if rewritten == question:  # an ellipsis ("And the second one?"): carry the last question along
        rewritten = f"{question.rstrip('?')} ({last.question.rstrip('?')})?"
    return rewritten


def bounded_history(history: Sequence[Turn], max_tokens: int) -> list[Turn]:
    """The most recent turns whose questions and answers fit in ``max_tokens`` (cl100k).
    The last turn is always kept, its answer cut to fit, since a follow-up leans on it."""
    from .tokens import count_tokens, encoding

    kept: list[Turn] = []
    budget = max_tokens
    for turn in reversed(history):
        cost = count_tokens(turn.question) + count_tokens(turn.answer) + 8  # + the "User:/Assistant:" framing
        if cost > budget:
            if not kept:  # the previous turn alone is too long: keep its question, cut its answer
                room = max(0, budget - count_tokens(turn.question) - 8)
                answer = encoding().decode(encoding().encode_ordinary(turn.answer)[:room])
                kept.append(Turn(turn.question, answer))
            break
        kept.append(turn)
        budget -= cost
    return list(reversed(kept))


def render_history(history: Sequence[Turn]) -> str:
    return "\n".join(f"User: {t.question}\nAssistant: {t.answer or '(no answer)'}" for t in history)


_LABEL = re.compile(r"^(?:rewritten(?: question)?|standalone(?: question)?|question)\s*:\s*", re.IGNORECASE)


def _clean_rewrite(text: str, question: str) -> str | None:
    """The model's rewrite, or None when it is not a usable question (an answer, a
    refusal, an essay)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    candidate = _LABEL.sub("", lines[0]).strip().strip('"“”').strip()
    if not candidate or len(candidate) > 2 * len(question) + 120:
        return None
    if question.rstrip().endswith("?") and not candidate.endswith("?"):
        return None
    return candidate


_WORD = re.compile(r"[^\W_]+")
_GLUE = _QUESTION_WORDS | {
    "now", "about", "with", "regarding", "during", "by", "from", "as", "not", "no", "after", "before", "into",
    "over", "than", "there", "here", "ever", "s", "one", "ones", "company", "firm", "group",
}  # fmt: skip


def _stems(text: str) -> set[str]:
    stems = set()
    for word in _WORD.findall(text.lower().replace("’", "'")):
        for suffix in ("ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 3 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        stems.add(word)
    return stems


def _faithful(candidate: str, question: str, history: Sequence[Turn]) -> bool:
    """A rewrite keeps every content word of the question and brings in only words the
    conversation holds: a small model sometimes rephrases ("say whether" -> "deny") or
    invents a name ("Mayor X"), and either would retrieve for another question."""
    asked = _stems(question) - _GLUE
    written = _stems(candidate)
    context = _stems(" ".join(f"{t.question} {t.answer}" for t in history))
    return asked <= written and not (written - asked - context - _GLUE - _stems(question))


class RuleRewriter:
    """Rewrites follow-ups by the rules (:func:`rewrite_by_rules`); nothing to prepare."""

    def __call__(self, question: str, history: Sequence[Turn]) -> str:
        return rewrite_by_rules(question, history)

    def read_ahead(self) -> None:
        pass


class LLMRewriter:
    """Rewrites follow-ups with the provider's chat model; the rules are the fallback."""

    def __init__(self, provider: "Provider", prompts: "PromptSet", max_history_tokens: int):
        self.provider = provider
        self.prompts = prompts
        self.max_history_tokens = max_history_tokens

    def read_ahead(self) -> None:
        """Have the model read the rewrite prompt's instructions before the first follow-up."""
        self.provider.read_ahead(self.prompts.rewrite_messages("", ""))

    def __call__(self, question: str, history: Sequence[Turn]) -> str:
        if not needs_rewrite(question, list(history)):
            return question
        turns = bounded_history(history, self.max_history_tokens)
        messages = self.prompts.rewrite_messages(question, render_history(turns))
        reply = "".join(self.provider.stream_messages(messages))
        candidate = _clean_rewrite(reply, question)
        if candidate and _faithful(candidate, question, turns):
            return candidate
        return rewrite_by_rules(question, list(history))


def make_rewriter(settings: "Settings", provider: "Provider") -> Rewriter:
    """The follow-up rewrite the settings ask for, for this provider: its model's, with a
    provider that reads prompts (unless the settings ask for rules), else the rules."""
    if settings.followup_rewrite in ("llm", "auto") and provider.reads_prompts:
        prompts = provider.prompts  # type: ignore[attr-defined]  # a provider reading prompts has them
        return LLMRewriter(provider, prompts, settings.chat_history_tokens)
    return RuleRewriter()
