"""Whether an answer gives the kind of thing its question asks for: a quantity, a duration
(or length), or a time.

The verifier checks that each sentence is backed by a passage; it cannot tell that a
backed sentence answers another question. A near miss often shows it in its kind: "How much
water did the plant buy?" answered with "The plant bought water during the first year of the
drought [1]", backed and about the subject, but with no quantity in it. Word lists, not a
model: the kinds are few and their words a closed class, and the local model's own yes/no
judgement of relevance did not separate (evals/README.md).
"""

from __future__ import annotations

import re
from typing import Iterable, Literal

from .text import CITATION_MARKER

__all__ = ["Kind", "asked_kind", "gives_kind", "WANTS_NUMBER", "WANTS_DATE", "HAS_DATE"]

Kind = Literal["quantity", "duration", "time"]

# Questions only a number answers.
WANTS_NUMBER = re.compile(
    r"\b(?:how (?:many|much|large|big|long|far|old|high|low)|by how much|"
    r"what (?:percentage|percent|share|proportion|"
    r"price|amount|number|sum|fee|fine|cost|salary|wage|rate|figure|total))\b",
    re.IGNORECASE,
)
# Questions only a duration (or a length) answers.
_WANTS_DURATION = re.compile(r"\bhow long\b", re.IGNORECASE)
# Questions only a time answers.
WANTS_DATE = re.compile(r"\b(?:when|(?:what|which|on what) (?:date|day|year|month))\b", re.IGNORECASE)

_MONTHS_AND_DAYS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
)
# A calendar date: what the extractive provider requires of a sentence it quotes for "when".
HAS_DATE = re.compile(rf"\b(?:{_MONTHS_AND_DAYS}|yesterday|today|last (?:week|month|year)|(?:19|20)\d\d)\b")

_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
_CLOCK_UNITS = "minutes?|hours?|days?|weeks?|months?|years?|decades?"

# Any statement of a quantity: a figure, or a number said in words ("two years", "no arrests").
_STATES_QUANTITY = re.compile(
    rf"\d|\b(?:{_NUMBER_WORDS}|hundreds?|thousands?|millions?|billions?|dozens?|half|quarter|"
    r"double|twice|triple|no|none|all|every)\b",
    re.IGNORECASE,
)
# A calendar date's figures ("July 1, 2026", "19 November", "in 2027"): a time, not a quantity.
_DATE_FIGURES = re.compile(
    rf"\b(?:(?:{_MONTHS_AND_DAYS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d\d)?|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS_AND_DAYS})(?:,?\s+(?:19|20)\d\d)?|(?:19|20)\d\d)\b"
)
_UNITS = rf"(?:seconds?|{_CLOCK_UNITS}|centur(?:y|ies)|km|kilomet(?:re|er)s?|miles?|met(?:re|er)s?|feet|foot)"
# A duration or a length: a number and its unit ("58 minutes", "up to 120 working days", "two
# years", "a decade"), units without a number ("for months"), or an end ("until November").
_STATES_DURATION = re.compile(
    rf"(?:\d|\b(?:a|an|{_NUMBER_WORDS}|several|few|many|half)\b)[\s\d,.-]*(?:[a-z]+\s+){{0,2}}{_UNITS}\b|"
    r"\b(?:hours|days|weeks|months|years|decades)\b|\b(?:until|till|through)\b",
    re.IGNORECASE,
)
# Any statement of a time, calendar or relative ("within weeks", "after the vote", "now").
# A figure is a time only as a year, a date or a clock time: "£50 in compensation" says how
# much, not when.
_STATES_TIME = re.compile(
    r"\b(?:19|20)\d\d\b|\b\d{1,2}(?:[:.]\d\d)?\s*(?:a\.?m\.?|p\.?m\.?|GMT|BST|UTC)|"
    r"\b\d{1,2}/\d{1,2}\b|"
    rf"\b(?:{_MONTHS_AND_DAYS}|yesterday|today|tomorrow|tonight|"
    rf"{_CLOCK_UNITS}|spring|summer|autumn|fall|winter|"
    r"morning|afternoon|evening|night|now|soon|later|earlier|ago|since|until|before|after)\b",
    re.IGNORECASE,
)


def asked_kind(question: str) -> Kind | None:
    """The kind of thing ``question`` can only be answered with, if it is one of the kinds."""
    if _WANTS_DURATION.search(question):
        return "duration"
    if WANTS_NUMBER.search(question):
        return "quantity"
    if WANTS_DATE.search(question):
        return "time"
    return None


def gives_kind(question: str, sentences: Iterable[str]) -> bool:
    """Whether the answer's ``sentences`` (its factual ones; citation markers are not
    figures) state what ``question`` asks for; True when it asks for no particular kind."""
    kind = asked_kind(question)
    if kind is None:
        return True
    texts = [CITATION_MARKER.sub(" ", s) for s in sentences]
    if kind == "time":
        return any(_STATES_TIME.search(t) for t in texts)
    if kind == "duration":
        return any(_STATES_DURATION.search(t) for t in texts)
    return any(_STATES_QUANTITY.search(_DATE_FIGURES.sub(" ", t)) for t in texts)
