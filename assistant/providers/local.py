"""The default, offline provider: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) on the CPU
through llama.cpp's own server engine (xllamacpp).

By default the engine runs in one background process per user, the model server
(:mod:`.model_server`, :mod:`.model_daemon`), which every command shares together with its
prompt cache; with ``local_server = false`` it is loaded inside the command instead, once
per process. Both run the same engine with the same parameters (:func:`engine_params`)."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..errors import ProviderError, ProviderUnavailable
from ..modelfile import QWEN_1_5B, ensure_model_file
from . import ChatProvider, EngineWork, TokenOdds

if TYPE_CHECKING:
    from ..config import Settings
    from ..prompts import PromptSet

_ENGINES: dict[tuple, object] = {}
_ENGINES_LOCK = threading.Lock()
_DONE = object()
_CACHE_REUSE_TOKENS = 32
# llama.cpp reads a prompt this many tokens at a time and reports progress after each
# batch; a request can only be stopped at such a report, so this bounds how long Ctrl-C
# (or a question overtaking a read-ahead) waits: about 1.7 s on 2 cores. Reading is 2%
# slower than in batches of 2048 (measured on the sample article's 730-token prompt).
_PROMPT_BATCH_TOKENS = 128
# The prompts llama.cpp keeps in RAM besides the one in its slot, so that a prompt read
# before (a read-ahead, another terminal's question) is not read again. About 28 KB per
# token: room for about 10 prompts of the sample article's size. (llama.cpp's default is
# 8 GiB: an in-process eval on the dev split grew from 2.4 to 2.7 GB in 40 minutes with
# it, and a server that runs for hours would keep growing; the model itself is 1.9 GB.)
_PROMPT_CACHE_MIB = 256
# Alternatives read per token written, when asked: enough to find the refusal's next token
# whenever it has a chance worth counting.
_TOP_ALTERNATIVES = 10
# What the engine is given besides the model, threads and context: a server started with
# other values is another configuration (model_server.ServerSpec.fingerprint).
ENGINE_TUNING = {
    "batch": _PROMPT_BATCH_TOKENS,
    "cache_reuse": _CACHE_REUSE_TOKENS,
    "cache_ram_mib": _PROMPT_CACHE_MIB,
}


def engine_params(model_path: Path, threads: int, context: int):
    """llama.cpp's parameters for the local model, in-process or in the model server."""
    try:
        import xllamacpp
    except ImportError:
        raise ProviderUnavailable(
            "the llama.cpp runtime (xllamacpp) is not installed: run `make install`"
        ) from None
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = context
    params.n_parallel = 1
    # Reuse cached chunks of at least this many tokens even where they sit at another
    # place in the new prompt (llama.cpp shifts them): passages read before, in
    # another order, need not be read again.
    params.n_cache_reuse = _CACHE_REUSE_TOKENS
    params.cache_ram_mib = _PROMPT_CACHE_MIB
    params.n_batch = params.n_ubatch = _PROMPT_BATCH_TOKENS
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.sampling.temp = 0.0
    params.verbosity = -1  # llama.cpp logs every step to stderr otherwise
    return params


def load_engine(model_path: Path, threads: int, context: int, port: int | None = None):
    """A llama.cpp server engine for ``model_path``; one per process and configuration.
    With ``port`` it also serves the OpenAI-compatible HTTP API on 127.0.0.1."""
    key = (str(model_path), threads, context, port)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            params = engine_params(model_path, threads, context)
            if port is not None:
                params.hostnames = ["127.0.0.1"]
                params.port = port
            import xllamacpp

            try:
                _ENGINES[key] = xllamacpp.Server(params)
            except Exception as exc:
                raise ProviderUnavailable(f"cannot load the local model {model_path}: {exc}") from None
        return _ENGINES[key]


def chat_request(messages: list[dict[str, str]], max_tokens: int, alternatives: bool) -> dict:
    """The streamed chat-completion request the engine is given."""
    request = {
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "cache_prompt": True,  # reuse the longest prefix shared with the previous request
        "return_progress": True,  # a chunk per prompt batch: a chance to stop mid-reading
    }
    if alternatives:
        request.update(logprobs=True, top_logprobs=_TOP_ALTERNATIVES)
    return request


def chunk_text(chunk: dict, alternatives: list[TokenOdds] | None) -> str:
    """The text in one streamed chunk; with ``alternatives``, each token it wrote is
    appended there with the likeliest tokens the model could have written instead."""
    text = ""
    for choice in chunk.get("choices") or ():
        if alternatives is not None:
            for entry in (choice.get("logprobs") or {}).get("content") or []:
                top = {alt["token"]: float(alt["logprob"]) for alt in entry.get("top_logprobs") or []}
                alternatives.append(TokenOdds(entry.get("token", ""), top))
        text += (choice.get("delta") or {}).get("content") or ""
    return text


def _model_file(settings: "Settings") -> tuple[Path, str]:
    """The GGUF file the local provider runs, and the model's name."""
    if settings.local_model_file is not None:
        if not settings.local_model_file.is_file():
            raise ProviderUnavailable(f"local_model_file {settings.local_model_file} does not exist")
        return settings.local_model_file, settings.local_model_file.stem
    return ensure_model_file(settings.cache_dir), QWEN_1_5B.name


def _threads(settings: "Settings") -> int:
    return settings.llm_threads or os.cpu_count() or 2


_SERVERS: dict = {}


def model_server_for(settings: "Settings"):
    """The model server (:class:`.model_server.ModelServer`) the local provider of
    ``settings`` uses: one object per server spec in a process, so that a server started
    early (:meth:`LocalProvider.start_early`) is the one the provider then waits for."""
    from .model_server import ModelServer, ServerSpec

    path, name = _model_file(settings)
    spec = ServerSpec.of(settings, path, name, _threads(settings), settings.llm_context_tokens)
    with _ENGINES_LOCK:
        if spec not in _SERVERS:
            _SERVERS[spec] = ModelServer(spec)
        return _SERVERS[spec]


class LocalProvider(ChatProvider):
    name = "local"
    gives_token_odds = True

    def __init__(self, settings: "Settings", prompts: "PromptSet"):
        super().__init__(prompts)
        self.model_path, self.model = _model_file(settings)
        self.threads = _threads(settings)
        self.context = settings.llm_context_tokens
        self.max_tokens = settings.max_answer_tokens
        self._answering = 0  # requests that are not read-aheads, running or waiting
        self._answering_lock = threading.Lock()
        self._closed = threading.Event()  # read-aheads stop: the chat is ending
        self._work = EngineWork()
        self._work_lock = threading.Lock()
        self.server = None
        if settings.local_server:
            self.server = model_server_for(settings)
            self.server.begin()  # it loads while the command opens its index; nothing waits yet

    @classmethod
    def start_early(cls, settings: "Settings") -> None:
        """Have the model server load (if it is not running) while the command does other
        things, such as opening the index. Nothing slow happens here: with no model file ready
        (the bundled one not assembled yet) it is left to the provider, as are errors."""
        from ..errors import AssistantError
        from ..modelfile import assembled_model_file

        if not settings.local_server:
            return
        if settings.local_model_file is None and assembled_model_file(settings.cache_dir) is None:
            return
        try:
            model_server_for(settings).begin()
        except AssistantError:
            pass

    def loading_message(self) -> str | None:
        if self.server is not None:
            return None if self.server.is_ready() else "starting the local model server..."
        loaded = (str(self.model_path), self.threads, self.context, None) in _ENGINES
        return None if loaded else "loading the local model..."

    def warm_up(self) -> None:
        if self.server is not None:
            self.server.wait_ready()
        else:
            load_engine(self.model_path, self.threads, self.context)

    def close(self) -> None:
        """Stop a read-ahead at its next batch. (A process must not exit while the engine
        runs a request on another thread: llama.cpp aborts it.) The model stays loaded."""
        self._closed.set()

    def engine_work(self) -> EngineWork:
        with self._work_lock:
            return self._work

    def _count(self, chunk: dict) -> None:
        """Add a request's timings (llama.cpp puts them in its last chunk) to the work done."""
        timings = chunk.get("timings")
        if isinstance(timings, dict):
            with self._work_lock:
                self._work = self._work.plus(timings)

    def read_ahead(self, messages: list[dict[str, str]]) -> None:
        """Run ``messages`` through the model for one token: llama.cpp keeps what it read
        (the slot's cache, and its prompt cache in RAM for several prompts), and a later
        prompt reuses the longest part it shares with any of them."""
        for _ in self.stream_messages(messages, max_tokens=1, give_way=True):
            pass

    def stream_messages(
        self,
        messages: list[dict[str, str]],
        max_tokens: int | None = None,
        give_way: bool = False,
        alternatives: list[TokenOdds] | None = None,
    ) -> Iterator[str]:
        """The model's reply to ``messages``, in pieces. With ``give_way`` (a read-ahead),
        the request stops at its next progress report once a real request is waiting
        (from this command or, with the model server, from any): the engine runs one
        request at a time, and a person is waiting for that one. With ``alternatives``,
        each token written is appended to it with the likeliest tokens the model could
        have written there."""
        request = chat_request(messages, max_tokens or self.max_tokens, alternatives is not None)
        if self.server is not None:
            return self.server.stream_text(request, give_way, self._closed, alternatives, self._count)
        return self._stream_in_process(request, give_way, alternatives)

    def _stream_in_process(
        self, request: dict, give_way: bool, alternatives: list[TokenOdds] | None
    ) -> Iterator[str]:
        engine = load_engine(self.model_path, self.threads, self.context)
        pieces: queue.Queue = queue.Queue()
        cancelled = threading.Event()
        if not give_way:
            with self._answering_lock:
                self._answering += 1

        def on_chunk(chunk) -> bool:
            if isinstance(chunk, dict) and "error" in chunk:
                pieces.put(
                    ProviderError(f"local model failed: {chunk['error'].get('message', chunk['error'])}")
                )
                return True
            self._count(chunk or {})
            text = chunk_text(chunk or {}, alternatives)
            if text:
                pieces.put(text)
            return cancelled.is_set() or (
                give_way and (self._answering > 0 or self._closed.is_set())
            )  # True stops the request

        def run() -> None:
            try:
                result = engine.handle_chat_completions(request, on_chunk)
                if isinstance(result, dict) and "error" in result:
                    pieces.put(ProviderError(f"local model failed: {result['error']}"))
            except Exception as exc:  # the engine reports failures as exceptions too
                pieces.put(ProviderError(f"local model failed: {exc}"))
            finally:
                pieces.put(_DONE)

        worker = threading.Thread(target=run, name="local-llm", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            cancelled.set()  # the consumer stopped early (Ctrl-C): stop at the next batch
            worker.join(timeout=30)
            if not give_way:
                with self._answering_lock:
                    self._answering -= 1
