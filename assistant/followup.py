"""Follow-up questions: rewrite a question that leans on the conversation ("Did it say
whether it ever worked with the PLA?") into one that stands alone ("Did Alibaba say
whether Alibaba ever worked with the PLA?") before retrieval.

Rule-based by default (pronouns and ellipses take the main entity of the previous turn),
which is deterministic and instant; an LLM provider can rewrite with ``prompts/rewrite.txt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Turn", "needs_rewrite", "rewrite_by_rules", "main_entity"]


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


def rewrite_by_rules(question: str, history: list[Turn]) -> str:
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
