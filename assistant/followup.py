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
_SUBJECT = re.compile(r"\b(it|they|he|she)\b", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\b(its|their|his|her)\b", re.IGNORECASE)
_DEPENDENT = re.compile(
    r"\b(it|its|they|them|their|he|she|him|his|her|this|that|these|those|the (?:company|firm|group|agency|"
    r"report|memo|deal|second|first|other|latter|former)|there)\b|^(?:and|what about|how about|also|but)\b",
    re.IGNORECASE,
)


def needs_rewrite(question: str, history: list[Turn]) -> bool:
    return bool(history) and bool(_DEPENDENT.search(question.strip()))


def main_entity(text: str) -> str | None:
    """The first name-like phrase of ``text`` that is not just a question word."""
    for match in _ENTITY.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower() in _QUESTION_WORDS:
            words.pop(0)
        while words and words[-1].lower() in _QUESTION_WORDS:
            words.pop()
        if words:
            return " ".join(words).rstrip(".’'")
    return None


def rewrite_by_rules(question: str, history: list[Turn]) -> str:
    """Put the previous turn's main entity where the question points back at it."""
    if not needs_rewrite(question, history):
        return question
    last = history[-1]
    entity = main_entity(last.question) or main_entity(last.answer)
    if not entity:
        return question
    rewritten = _POSSESSIVE.sub(f"{entity}’s", question)
    rewritten = _SUBJECT.sub(entity, rewritten)
    if rewritten == question:  # an ellipsis ("And the second one?"): carry the last question along
        rewritten = f"{question.rstrip('?')} ({last.question.rstrip('?')})?"
    return rewritten
