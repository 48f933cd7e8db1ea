"""Every provider by name: the one list the settings, the command line and the chat read.

Adding a provider is one :class:`~assistant.providers.Provider` subclass in its own module
and one :func:`register` call below. An entry names its class by import path, so listing
the providers (``assistant --help``) imports none of them (the model runtimes are slow to
import); the class is imported when a provider is made.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Settings
    from . import CorpusView, Provider

__all__ = [
    "ProviderEntry",
    "register",
    "unregister",
    "provider_names",
    "provider_entry",
    "provider_names_in_words",
    "describe_providers",
    "start_early",
    "make_provider",
]


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: its name, what it is in a few words, and its class (an import path
    ``"package.module:Class"``, or the class itself)."""

    name: str
    description: str
    target: "str | type[Provider]"

    def provider_class(self) -> "type[Provider]":
        if not isinstance(self.target, str):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


_ENTRIES: dict[str, ProviderEntry] = {}  # in the order shown in choices and help


def register(name: str, description: str, target: "str | type[Provider]") -> ProviderEntry:
    """Add a provider under ``name`` (a name taken already is an error: unregister it first)."""
    if name in _ENTRIES:
        raise ValueError(f"a provider named '{name}' is registered already")
    entry = ProviderEntry(name, description, target)
    _ENTRIES[name] = entry
    return entry


def unregister(name: str) -> None:
    _ENTRIES.pop(name, None)


def provider_names() -> tuple[str, ...]:
    return tuple(_ENTRIES)


def _unknown(name: str) -> str:
    return f"unknown provider '{name}': choose one of {', '.join(_ENTRIES)}"


def provider_entry(name: str) -> ProviderEntry:
    """The entry of provider ``name``; a :class:`ConfigError` for a name not registered."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ConfigError(_unknown(name)) from None


def provider_names_in_words(quoted: bool = False) -> str:
    """The names as a sentence lists them: ``local, openai or extractive`` (quoted: ``'local'``...)."""
    names = [f"'{name}'" if quoted else name for name in _ENTRIES]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def describe_providers() -> str:
    """Every provider with its description, for help texts: ``local (offline LLM), ...``."""
    return ", ".join(f"{entry.name} ({entry.description})" for entry in _ENTRIES.values())


def start_early(settings: "Settings", name: str | None = None) -> None:
    """Have the provider named (or configured) start loading its model, if it has one, while
    the command does other things (see :meth:`Provider.start_early`)."""
    provider_entry(name or settings.provider).provider_class().start_early(settings)


def make_provider(settings: "Settings", corpus: "CorpusView", name: str | None = None) -> "Provider":
    """The provider named (or configured), ready to answer, seeing the ingested articles
    through ``corpus`` (embeddings and word rarity only)."""
    return provider_entry(name or settings.provider).provider_class().from_settings(settings, corpus)


register(
    "local",
    "Qwen2.5-Coder-1.5B on the CPU, offline",
    "assistant.providers.local:LocalProvider",
)
register(
    "openai",
    "OpenAI or a compatible server",
    "assistant.providers.openai_compat:OpenAIProvider",
)
register(
    "extractive",
    "no model, the best passage sentences",
    "assistant.providers.extractive:ExtractiveProvider",
)
