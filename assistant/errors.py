"""One exception tree. Every error a user can cause is an ``AssistantError`` whose
message is the single line the user should read (what went wrong and, where we can
say, how to fix it). Anything else escaping the CLI is a bug."""

from __future__ import annotations

__all__ = [
    "AssistantError",
    "ConfigError",
    "LoaderError",
    "UnsupportedFile",
    "EmptyArticle",
    "BinaryFile",
    "MalformedFile",
    "IndexError_",
    "IndexNotFound",
    "EmbeddingMismatch",
    "StoreUnavailable",
    "ResourceError",
    "ProviderError",
    "ProviderUnavailable",
    "QuestionError",
]


class AssistantError(Exception):
    """Base of every error the assistant reports to a user."""


class ConfigError(AssistantError):
    """A setting is missing or has a value we cannot use."""


class ResourceError(AssistantError):
    """A bundled file (tokenizer, model) is missing or does not match its checksum."""


class LoaderError(AssistantError):
    """A file could not be turned into articles. ``reason`` is the short why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFile(LoaderError):
    pass


class EmptyArticle(LoaderError):
    pass


class BinaryFile(LoaderError):
    pass


class MalformedFile(LoaderError):
    pass


class IndexError_(AssistantError):
    """Something is wrong with the index (named with a trailing underscore so it does
    not shadow the builtin ``IndexError``)."""


class IndexNotFound(IndexError_):
    """Nothing to search: no index, or one with no articles in it yet."""

    @classmethod
    def nothing_in(cls, where: str) -> "IndexNotFound":
        """The one message for it, wherever it is noticed; ``where`` is
        :attr:`Settings.index_location` (a folder, or a Chroma server's host:port)."""
        return cls(f"no articles ingested yet in {where}: run `assistant ingest articles/`")


class EmbeddingMismatch(IndexError_):
    """The index was built with another embedding model than the one configured."""


class StoreUnavailable(IndexError_):
    """The Chroma server (or folder) cannot be reached or opened."""


class ProviderError(AssistantError):
    """The answering model failed (a server error, a timeout, a refused key)."""


class ProviderUnavailable(ProviderError):
    """The chosen provider cannot run here (model not installed, no key configured)."""


class QuestionError(AssistantError):
    """The question cannot be asked as typed (empty, far too long)."""
