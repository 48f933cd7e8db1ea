"""Who writes the answer. Every provider is one small subclass of :class:`Provider`:
``stream(question, passages)`` yields text (with ``[n]`` markers naming the passages,
1-based); the citation verifier then checks whatever it wrote. The providers, by
name, are in :mod:`.registry`. The answering chain knows a provider only through this
interface (whether it reads prompts, gives token odds, reads ahead), never its class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterator, Protocol

from ..models import Passage

if TYPE_CHECKING:
    import numpy as np

    from ..config import Settings
    from ..prompts import PromptSet

__all__ = ["Provider", "ChatProvider", "CorpusView", "EngineWork", "TokenOdds", "make_provider"]


class CorpusView(Protocol):
    """What a provider may know of the ingested articles beyond the passages it is given:
    their embeddings and how rare a word is among them. Retrieval's ``Searcher`` is one;
    a provider never sees the store or the search itself."""

    def embed(self, texts: list[str]) -> "np.ndarray": ...

    def idf(self, terms: set[str]) -> dict[str, float]: ...


class Provider(ABC):
    name: ClassVar[str]
    model: str = ""
    # Whether it is a language model reading a prompt made from prompts/ (the question and
    # the passages), rather than computing the answer from the passages. Such a model's
    # latency grows with what it reads (the chain gives it each passage's focused part), it
    # keeps what it read in a cache (the chain reads prompts ahead), and it can rewrite a
    # follow-up question to stand alone (it has ``prompts`` and ``stream_messages``).
    reads_prompts: ClassVar[bool] = False
    # Whether it gives, with each token it writes, the likeliest tokens it could have written
    # instead: then :meth:`stream_with_odds` and :meth:`stream_from` work, and the chain
    # reads from the first tokens how likely it was to refuse.
    gives_token_odds: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: "Settings", corpus: CorpusView) -> "Provider":
        """The provider as ``settings`` configure it (how the registry makes one); by
        default one with nothing to configure."""
        return cls()

    @classmethod
    def start_early(cls, settings: "Settings") -> None:
        """Have what the provider will need (a model server) start loading while the command
        opens the index, before the provider is made. Never slow, never an error (making
        the provider reports those); by default there is nothing to start."""

    @abstractmethod
    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        """Yield the answer in pieces as it is written."""

    def stream_with_odds(
        self, question: str, passages: list[Passage], alternatives: list["TokenOdds"]
    ) -> Iterator[str]:
        """As :meth:`stream`, appending to ``alternatives`` a :class:`TokenOdds` per token
        written (only for a provider that ``gives_token_odds``)."""
        raise NotImplementedError(f"the {self.name} provider gives no token odds")

    def stream_from(self, question: str, passages: list[Passage], opening: str) -> Iterator[str]:
        """The rest of an answer that begins with ``opening``: the answer the model nearly
        wrote (only for a provider that ``gives_token_odds``, whose odds name the opening)."""
        raise NotImplementedError(f"the {self.name} provider cannot continue an opening")

    def read_ahead_answer(self, passages: list[Passage]) -> None:
        """Read the answer prompt for ``passages`` (all of it but the question) now, so that a
        question's prompt has only the rest left to read. By default nothing: only a model
        with a prompt cache gains from it."""

    def warm_up(self) -> None:
        """Load what answering needs (a model); by default there is nothing to load."""

    def loading_message(self) -> str | None:
        """What :meth:`warm_up` would wait for, for a spinner ("loading the model..."); None
        when it would return at once."""
        return None

    def close(self) -> None:
        """Release what the provider holds (connections); models stay loaded per process."""

    def engine_work(self) -> "EngineWork | None":
        """What its model engine did so far (tokens read and written, and the engine's own
        seconds for each), where the engine reports it; None otherwise."""
        return None


@dataclass(frozen=True)
class EngineWork:
    """Tokens a model engine read (prompt) and wrote, with the engine's own seconds for
    each: its speed on this machine, which an eval needs to tell a slow machine from slow
    code."""

    read_tokens: int = 0
    read_s: float = 0.0
    written_tokens: int = 0
    written_s: float = 0.0

    def plus(self, timings: dict) -> "EngineWork":
        """This work and one request's, from llama.cpp's ``timings`` of that request."""
        return EngineWork(
            self.read_tokens + int(timings.get("prompt_n") or 0),
            self.read_s + float(timings.get("prompt_ms") or 0) / 1000,
            self.written_tokens + int(timings.get("predicted_n") or 0),
            self.written_s + float(timings.get("predicted_ms") or 0) / 1000,
        )

    def seconds_at(self, read_per_s: float, written_per_s: float) -> float:
        """How long this work takes an engine reading and writing at these speeds."""
        return self.read_tokens / read_per_s + self.written_tokens / written_per_s


@dataclass(frozen=True)
class TokenOdds:
    """One token a model wrote, and the likeliest tokens it could have written in its
    place, each with its log-probability."""

    token: str
    top: dict[str, float]


class ChatProvider(Provider):
    """A provider backed by a chat model: builds the messages from ``prompts/``. Made from
    settings, a subclass is given the settings and the prompts."""

    reads_prompts = True

    def __init__(self, prompts: "PromptSet"):
        self.prompts = prompts

    @classmethod
    def from_settings(cls, settings: "Settings", corpus: CorpusView) -> "Provider":
        from ..prompts import DEFAULT_PROMPTS_DIR, load_prompts

        prompts = load_prompts(settings.prompts_dir or DEFAULT_PROMPTS_DIR)
        return cls(settings, prompts)  # type: ignore[call-arg]

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        return self.stream_messages(self.prompts.messages(question, passages))

    def stream_with_odds(
        self, question: str, passages: list[Passage], alternatives: list["TokenOdds"]
    ) -> Iterator[str]:
        messages = self.prompts.messages(question, passages)
        return self.stream_messages(messages, alternatives=alternatives)  # type: ignore[call-arg]

    def stream_from(self, question: str, passages: list[Passage], opening: str) -> Iterator[str]:
        opened = {"role": "assistant", "content": opening}
        return self.stream_messages([*self.prompts.messages(question, passages), opened])

    @abstractmethod
    def stream_messages(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the model's reply to ``messages`` in pieces (a model that ``gives_token_odds``
        also takes ``alternatives=[]`` and fills it with a :class:`TokenOdds` per token)."""

    def read_ahead(self, messages: list[dict[str, str]]) -> None:
        """Read ``messages`` now, so that a later prompt opening the same way has only the
        rest left to read. By default nothing: a remote server keeps its own cache."""

    def read_ahead_answer(self, passages: list[Passage]) -> None:
        self.read_ahead(self.prompts.messages("", passages))


def make_provider(settings: "Settings", corpus: CorpusView, name: str | None = None) -> Provider:
    """The provider named (or configured), ready to answer (see :mod:`.registry`)."""
    from .registry import make_provider as make

    return make(settings, corpus, name)
