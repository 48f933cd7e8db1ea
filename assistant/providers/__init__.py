"""Who writes the answer. Every provider is one small subclass of :class:`Provider`:
``stream(question, passages)`` yields text (with ``[n]`` markers naming the passages,
1-based); the citation verifier then checks whatever it wrote.

- ``local``: Qwen2.5-Coder-1.5B-Instruct on the CPU through llama.cpp (xllamacpp), offline,
  in a model server shared by every command (or in-process).
- ``openai``: OpenAI or any OpenAI-compatible server through the ``openai`` SDK.
- ``extractive``: no model; the passage sentences that best answer the question.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterator

from ..errors import ConfigError
from ..models import Passage

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptSet
    from ..retrieval import Searcher

__all__ = ["Provider", "ChatProvider", "TokenOdds", "make_provider", "PROVIDER_NAMES"]

PROVIDER_NAMES = ("local", "openai", "extractive")


class Provider(ABC):
    name: ClassVar[str]
    model: str = ""
    # Whether ``stream_messages`` (a ChatProvider's) accepts ``alternatives=[]`` and fills it
    # with a :class:`TokenOdds` per token written.
    gives_token_odds: ClassVar[bool] = False

    @abstractmethod
    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        """Yield the answer in pieces as it is written."""

    def warm_up(self) -> None:
        """Load what answering needs (a model); by default there is nothing to load."""

    def loading_message(self) -> str | None:
        """What :meth:`warm_up` would wait for, for a spinner ("loading the model..."); None
        when it would return at once."""
        return None

    def close(self) -> None:
        """Release what the provider holds (connections); models stay loaded per process."""


@dataclass(frozen=True)
class TokenOdds:
    """One token a model wrote, and the likeliest tokens it could have written in its
    place, each with its log-probability."""

    token: str
    top: dict[str, float]


class ChatProvider(Provider):
    """A provider backed by a chat model: builds the messages from ``prompts/``."""

    def __init__(self, prompts: "PromptSet"):
        self.prompts = prompts

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        return self.stream_messages(self.prompts.messages(question, passages))

    @abstractmethod
    def stream_messages(self, messages: list[dict[str, str]]) -> Iterator[str]:
        """Yield the model's reply to ``messages`` in pieces."""

    def read_ahead(self, messages: list[dict[str, str]]) -> None:
        """Read ``messages`` now, so that a later prompt opening the same way has only the
        rest left to read. By default nothing: a remote server keeps its own cache."""


def make_provider(settings: "Settings", searcher: "Searcher", name: str | None = None) -> Provider:
    """The provider named (or configured), ready to answer."""
    from ..prompts import DEFAULT_PROMPTS_DIR, load_prompts

    name = name or settings.provider
    if name == "extractive":
        from .extractive import ExtractiveProvider

        return ExtractiveProvider(searcher, settings.relevance_threshold)
    prompts = load_prompts(settings.prompts_dir or DEFAULT_PROMPTS_DIR)
    if name == "local":
        from .local import LocalProvider

        return LocalProvider(settings, prompts)
    if name == "openai":
        from .openai_compat import OpenAIProvider

        return OpenAIProvider(settings, prompts)
    raise ConfigError(f"unknown provider '{name}': choose one of {', '.join(PROVIDER_NAMES)}")
