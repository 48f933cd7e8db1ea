"""A conversation with the assistant: the state behind `assistant chat`.

:class:`ChatSession` holds what a conversation needs between questions (the turns that
make follow-ups stand alone, the last answer and the passages behind it, the provider in
use) and answers the chat commands with plain data. Rendering and the terminal loop live
in :mod:`assistant.chat_terminal`; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from .errors import AssistantError
from .followup import Turn
from .models import Answer, Citation, Passage, SearchHit

if TYPE_CHECKING:
    from .answer import Answerer, AnswerEvent
    from .config import Settings

__all__ = [
    "ChatSession",
    "ChatCommandError",
    "Command",
    "parse_command",
    "COMMANDS",
    "command_help",
    "SourceView",
    "ArticleView",
]

# name -> (argument, what it does); the order is the order /help shows. {providers} is
# filled in from the registry when the help is shown (command_help).
COMMANDS: dict[str, tuple[str, str]] = {
    "sources": ("", "the passages behind the last answer, with their scores"),
    "source": ("N", "the whole passage behind citation [N], its quoted span highlighted"),
    "open": ("N", "the article around the passage behind citation [N]"),
    "retry": ("", "ask the last question again"),
    "reset": ("", "forget the conversation (follow-ups start afresh)"),
    "provider": ("NAME", "answer with another provider: {providers}"),
    "help": ("", "this list"),
    "quit": ("", "leave (Ctrl-D does too)"),
}
_ALIASES = {"exit": "quit", "q": "quit", "?": "help", "h": "help"}


def command_help() -> dict[str, tuple[str, str]]:
    """What /help lists: each command, its argument and what it does."""
    from .providers.registry import provider_names_in_words

    providers = provider_names_in_words()
    return {name: (argument, what.format(providers=providers)) for name, (argument, what) in COMMANDS.items()}


class ChatCommandError(AssistantError):
    """A chat command that cannot be carried out as typed (the session goes on)."""


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""

    def number(self) -> int:
        """The command's ``N`` (a footnote number)."""
        text = self.argument.strip().lstrip("[").rstrip("]")
        if not text.isdigit() or int(text) < 1:
            raise ChatCommandError(f"/{self.name} needs a citation number, like /{self.name} 1")
        return int(text)


def parse_command(line: str) -> Command | None:
    """The command on ``line`` (``/source 2``), or None when the line is a question."""
    if not line.startswith("/"):
        return None
    name, _, argument = line[1:].strip().partition(" ")
    name = _ALIASES.get(name.lower(), name.lower())
    if name not in COMMANDS:
        raise ChatCommandError(f"unknown command /{name}: /help lists the commands")
    return Command(name, argument.strip())


@dataclass(frozen=True)
class SourceView:
    """Citation ``n`` of the last answer: its passage, the quoted span within it (as
    offsets into ``passage.text``) and how retrieval ranked the passage."""

    n: int
    passage: Passage
    quote_start: int
    quote_end: int
    hit: SearchHit | None

    def as_json(self) -> dict:
        return {
            "n": self.n,
            **self.passage.as_json(),
            "quote": self.passage.text[self.quote_start : self.quote_end],
            "score": None if self.hit is None else round(self.hit.score, 6),
        }


@dataclass(frozen=True)
class ArticleView:
    """The article text around a cited passage. ``text`` covers article offsets
    ``start:end``; the passage sits at ``passage.start:passage.end`` within them, and the
    quoted span at ``quote_start:quote_end``."""

    n: int
    passage: Passage
    text: str
    start: int
    end: int
    article_length: int
    quote_start: int
    quote_end: int

    def as_json(self) -> dict:
        return {
            "n": self.n,
            **self.passage.as_json(),
            "context": self.text,
            "context_start": self.start,
            "context_end": self.end,
        }


def answer_for_history(answer: Answer) -> str:
    """The answer as the next rewrite sees it: the verified text without markers."""
    from .citations import strip_markers

    return strip_markers(answer.text).strip()


def stitch_article(passages: list[Passage]) -> tuple[str, int]:
    """An article's text rebuilt from its passages (they overlap and carry their offsets);
    returns the text and its length. Gaps between passages (blank lines the chunker left
    out) become newlines."""
    length = max((p.end for p in passages), default=0)
    chars = ["\n"] * length
    for passage in sorted(passages, key=lambda p: p.start):
        chars[passage.start : passage.end] = passage.text
    return "".join(chars), length


class ChatSession:
    """One conversation, answered by ``answerer`` (replaced on ``/provider``)."""

    def __init__(self, answerer: "Answerer", settings: "Settings", k: int | None = None):
        self.answerer = answerer
        self.settings = settings
        self.k = k
        self.history: list[Turn] = []
        self.last: Answer | None = None
        self.last_question: str | None = None

    @property
    def provider_name(self) -> str:
        return self.answerer.provider.name

    # -- asking -----------------------------------------------------------------------
    def ask(self, question: str) -> Iterator["AnswerEvent"]:
        """The events answering ``question`` in this conversation. The turn is recorded
        only when the answer completes: a cancelled answer leaves the history as it was."""
        from .answer import Done

        self.last_question = question.strip()
        for event in self.answerer.stream(question, self.k, history=tuple(self.history)):
            if isinstance(event, Done):
                self._record(event.answer)
            yield event

    def retry(self) -> Iterator["AnswerEvent"]:
        """Ask the last question again (replacing its turn, if it completed)."""
        if self.last_question is None:
            raise ChatCommandError("nothing to retry yet: ask a question first")
        if self.last is not None and self.history and self.last.question == self.last_question:
            self.history.pop()
        return self.ask(self.last_question)

    def _record(self, answer: Answer) -> None:
        self.last = answer
        self.history.append(Turn(answer.standalone_question or answer.question, answer_for_history(answer)))

    def reset(self) -> None:
        self.history.clear()
        self.last = None
        self.last_question = None

    def warm_up(self) -> None:
        """Load what the first answer would otherwise wait for: the embedder, the lexical
        index, the local model and its system prompt. Run while the user types."""
        self.answerer.searcher.search("news", 1)
        self.answerer.warm_up()

    def close(self) -> None:
        """End the session: reading ahead stops at the model's next batch."""
        self.answerer.close()

    def use_provider(self, name: str) -> str:
        """Switch providers for the next answers; the conversation carries over. The new
        provider's model is loaded before the switch: one that cannot run here leaves the
        session answering with the provider it had. (Reading its prompts ahead is left to
        :meth:`warm_up`, which the terminal runs in the background.)"""
        from .answer import Answerer
        from .providers.registry import make_provider, provider_entry

        try:
            name = provider_entry(name.strip().lower()).name
        except AssistantError as exc:  # a name not in the registry
            raise ChatCommandError(str(exc)) from None
        searcher = self.answerer.searcher
        try:
            answerer = Answerer(searcher, make_provider(self.settings, searcher, name), self.settings)
            answerer.provider.warm_up()
        except AssistantError as exc:
            raise ChatCommandError(f"{exc} (still answering with {self.provider_name})") from exc
        self.answerer.close()  # the old provider's reading ahead is of no use now
        self.answerer = answerer
        return answerer.provider.name

    # -- looking at sources -----------------------------------------------------------
    def _answer(self) -> Answer:
        if self.last is None:
            raise ChatCommandError("no answer yet: ask a question first")
        return self.last

    def sources(self) -> tuple[Answer, dict[str, int]]:
        """The last answer, and for each of its passages that is cited, the number it
        is cited by (chunk id -> n)."""
        answer = self._answer()
        return answer, {c.passage.chunk_id: c.n for c in answer.citations}

    def _citation(self, n: int) -> Citation:
        answer = self._answer()
        if not answer.citations:
            raise ChatCommandError("the last answer cites no passage: /sources lists the passages it read")
        for citation in answer.citations:
            if citation.n == n:
                return citation
        count = len(answer.citations)
        cites = "only [1]" if count == 1 else f"[1] to [{count}]"
        raise ChatCommandError(f"no citation [{n}]: the last answer cites {cites}")

    def source(self, n: int) -> SourceView:
        citation = self._citation(n)
        passage = citation.passage
        hit = next((h for h in self._answer().passages if h.passage.chunk_id == passage.chunk_id), None)
        start = max(0, citation.quote_start - passage.start)
        end = min(len(passage.text), citation.quote_end - passage.start)
        return SourceView(n, passage, start, end, hit)

    def article_around(self, n: int, context_chars: int = 900) -> ArticleView:
        """The article around citation ``n``'s passage, rebuilt from the index (so it
        works for a Chroma server and for files that have moved since)."""
        citation = self._citation(n)
        passage = citation.passage
        siblings = self.answerer.searcher.article_passages(passage.article_id)
        if not any(p.chunk_id == passage.chunk_id for p in siblings):  # ids carry the content hash
            if siblings:
                raise ChatCommandError(
                    f"the article '{passage.title}' has changed in the index since this answer: "
                    "/retry cites its new text"
                )
            raise ChatCommandError(
                f"the article '{passage.title}' is no longer in the index (pruned?): "
                f"/source {n} still shows the passage cited"
            )
        text, length = stitch_article(siblings)
        start = _snap_back(text, max(0, passage.start - context_chars))
        end = _snap_forward(text, min(length, passage.end + context_chars))
        return ArticleView(
            n, passage, text[start:end], start, end, length, citation.quote_start, citation.quote_end
        )


def _snap_back(text: str, at: int) -> int:
    """Move ``at`` back to the start of its line, so the context opens on a whole line."""
    return 0 if at == 0 else text.rfind("\n", 0, at) + 1


def _snap_forward(text: str, at: int) -> int:
    found = text.find("\n", at)
    return len(text) if found == -1 else found
