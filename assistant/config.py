"""All configuration in one place.

Settings come from, lowest priority first: the defaults below, an optional TOML file
(``assistant.toml`` in the working folder, or the file named by ``ASSISTANT_CONFIG``),
environment variables (``ASSISTANT_<FIELD>``, plus the standard ``OPENAI_API_KEY`` and
``OPENAI_BASE_URL``), then explicit overrides such as command-line flags. They are read
once, by :func:`load_settings`, and passed down; no other module reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from .errors import ConfigError
from .providers.registry import describe_providers, provider_names, provider_names_in_words

__all__ = ["Settings", "load_settings", "ENV_PREFIX"]

ENV_PREFIX = "ASSISTANT_"
# Standard variable names that other OpenAI tools use too; honoured without our prefix.
_STANDARD_ENV = {"OPENAI_API_KEY": "openai_api_key", "OPENAI_BASE_URL": "openai_base_url"}


class Settings(BaseModel):
    """Every knob of the assistant, each with what it does."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index_dir: Path = Field(Path("index"), description="Folder of the local index (Chroma + lexical side).")
    collection: str = Field("passages", description="Chroma collection holding the passages.")
    chroma_host: str | None = Field(
        None, description="Chroma server host; when set, the store is that server instead of index_dir."
    )
    chroma_port: int = Field(8000, description="Chroma server port (with chroma_host).")
    # Factories: the home folder is read when settings are made, not when this module is imported.
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "assistant",
        description="Per-user cache (lexical index of a Chroma server, assembled model files).",
    )

    embedding: Literal["local", "openai"] = Field(
        "local", description="Embedding backend: 'local' (offline MiniLM ONNX) or 'openai'."
    )
    openai_embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model name used when embedding='openai'."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Passages per embedding batch.")
    embed_threads: int = Field(0, ge=0, description="ONNX Runtime threads; 0 means one per core.")

    chunk_target_tokens: int = Field(160, ge=16, description="Preferred passage size in cl100k tokens.")
    chunk_max_tokens: int = Field(260, ge=32, description="Hard upper bound of a passage in tokens.")
    chunk_min_tokens: int = Field(
        80, ge=0, description="Passages shorter than this are merged with a neighbour when possible."
    )
    chunk_overlap_tokens: int = Field(
        40,
        ge=0,
        description="At most this many tokens of trailing sentences repeat at the next passage's start.",
    )

    search_k: int = Field(5, ge=1, le=200, description="Passages returned by a search.")
    search_candidates: int = Field(
        40, ge=1, description="Candidates taken from each of dense and BM25 before fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in fusion.")
    lexical_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")

    # Any provider in the registry (read when settings are made, so one registered later counts).
    provider: str = Field("local", description=f"Who writes answers: {describe_providers()}.")
    openai_model: str = Field("gpt-4o-mini", description="Chat model name for provider='openai'.")
    local_model_file: Path | None = Field(
        None,
        description="A GGUF file for provider='local' instead of the bundled Qwen2.5-Coder-1.5B-Instruct.",
    )
    local_server: bool = Field(
        True,
        description="Run the local LLM in one background server per user, started by the first command that "
        "needs it and shared by every command and terminal with its prompt cache (stopped after "
        "server_idle_s without requests); false loads the model inside each command instead.",
    )
    server_idle_s: float = Field(
        300.0, gt=0, description="Seconds the local model server stays loaded after its last request."
    )
    server_dir: Path | None = Field(
        None,
        description="Folder (owner-only) of the local model server's socket, pid file and log; "
        "default cache_dir/server.",
    )
    llm_threads: int = Field(0, ge=0, description="CPU threads for the local LLM; 0 means one per core.")
    llm_context_tokens: int = Field(4096, ge=512, description="Context window of the local LLM.")
    max_answer_tokens: int = Field(200, ge=16, description="Longest answer the model may write, in tokens.")
    answer_k: int = Field(
        3, ge=1, le=20, description="Passages given to the model (fewer is faster on a CPU)."
    )
    answer_per_article: int = Field(
        0,
        ge=0,
        le=20,
        description="At most this many of the passages given to the model from one article while other "
        "articles have candidates; 0: no cap, the best-ranked passages whatever their article (a cap of 2 "
        "pushed the passage holding the answer out of the three given for 1 in 20 answerable questions).",
    )
    answer_dense_seats: int = Field(
        1,
        ge=0,
        le=20,
        description="The passages the meaning (dense) search ranks first, this many, are always among those "
        "given to the model: a question in other words than its answer shares none with it, so BM25 misses "
        "the passage and rank fusion buries it (dense rank 1, fused rank 9-11); 0: fused rank only.",
    )
    extractive_fallback_above: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="When a model refuses but a passage sentence matches the question at least this well "
        "(the extractive provider's score), that sentence is the answer, verified as any; 1 is off.",
    )
    answer_gives_asked_kind: bool = Field(
        True,
        description="Refuse an answer that lacks the kind of thing its question asks for: a quantity for "
        "'how many/much ...', a duration or length for 'how long ...', a time for 'when ...' "
        "(relevance.py). The verifier checks support, not that a backed sentence answers this question.",
    )
    other_account_similarity: float = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description="When a passage of an article the answer does not cite says nearly the same as an answer "
        "sentence (at least this MiniLM similarity) with other figures, the answer quotes it too, with who "
        "published it and when (a claim and its denial, an estimate and a later count; accounts.py); "
        "1 turns it off.",
    )
    passage_focus_tokens: int = Field(
        0,
        ge=0,
        description="With a model provider, the model reads of each passage only its most question-related "
        "contiguous lines and sentences, up to this many cl100k tokens (prefill dominates CPU latency); 0 "
        "gives whole passages. Answers are still verified against the whole passages.",
    )
    latest_for_now: bool = Field(
        True,
        description="A question about how things stand now ('now', 'latest', 'so far') is answered from "
        "the latest dated article of each story among its passages, earlier reports left out (recency.py).",
    )
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Verifier: least support score for a passage to back a sentence."
    )
    read_refusal_odds: bool = Field(
        True,
        description="With a model that gives token probabilities (the local one), read from its first tokens "
        "how likely it was to refuse; refuse_above acts on it, and eval reports record it.",
    )
    refuse_above: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Refuse when the writer's own probability of refusing (read_refusal_odds) is above this, "
        "even though it answered: such an answer is more often a near miss than the answer (1 never does).",
    )
    retry_below: float = Field(
        0.0,
        ge=0,
        le=1,
        description="When the writer refused although its own probability of refusing (read_refusal_odds) "
        "was below this, let it write the answer it nearly wrote, from its likeliest other opening; the "
        "verifier checks it as any answer (0 never does).",
    )
    relevance_threshold: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Least question-to-sentence relevance for the extractive provider to answer.",
    )
    prompts_dir: Path | None = Field(
        None, description="Folder of prompt templates (default: the repo's prompts/)."
    )
    max_question_chars: int = Field(
        2000,
        ge=10,
        description="Longest question accepted, in characters (a longer one is refused with a message).",
    )
    followup_rewrite: Literal["auto", "rules", "llm"] = Field(
        "auto",
        description="How a follow-up question is made to stand alone: 'rules' (pronouns -> the previous "
        "turn's names), 'llm' (the provider, with prompts/rewrite_*.txt, falling back to rules), 'auto' (llm "
        "for model providers, rules for extractive).",
    )
    chat_history_tokens: int = Field(
        400, ge=0, description="Most recent conversation given to the follow-up rewrite, in cl100k tokens."
    )
    chat_history_file: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "state" / "assistant" / "chat_history",
        description="Where `assistant chat` keeps the lines typed (up-arrow history across sessions).",
    )

    openai_api_key: SecretStr | None = Field(None, description="API key for OpenAI or a compatible server.")
    openai_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    request_timeout_s: float = Field(60.0, gt=0, description="Timeout of one request to a remote service.")
    provider_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of a failed request to the answering server (HTTP 429/5xx, timeout, connection "
        "error) before any text has arrived; never once the answer has started.",
    )

    @field_validator("provider")
    @classmethod
    def _registered_provider(cls, name: str) -> str:
        if name not in provider_names():  # worded as pydantic words a value outside a Literal
            raise PydanticCustomError(
                "literal_error",
                "Input should be {expected}",
                {"expected": provider_names_in_words(quoted=True)},
            )
        return name

    @property
    def uses_server(self) -> bool:
        return bool(self.chroma_host)

    @property
    def index_location(self) -> str:
        """Where the index is, as messages name it: ``host:port`` of a Chroma server, or the folder."""
        return f"{self.chroma_host}:{self.chroma_port}" if self.uses_server else f"{self.index_dir}/"

    def fingerprint(self) -> str:
        """A short hash of everything that changes results (secrets and where the model runs excluded)."""
        data = self.model_dump(
            mode="json", exclude={"openai_api_key", "local_server", "server_idle_s", "server_dir"}
        )
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for var, field in _STANDARD_ENV.items():
        if env.get(var):
            values[field] = env[var]
    for name in Settings.model_fields:
        var = ENV_PREFIX + name.upper()
        if var in env and env[var] != "":
            values[name] = env[var]
    # ASSISTANT_INDEX is the documented short name of ASSISTANT_INDEX_DIR.
    if env.get(ENV_PREFIX + "INDEX"):
        values["index_dir"] = env[ENV_PREFIX + "INDEX"]
    return values


def _file_values(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("assistant", data)
    unknown = sorted(set(section) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return dict(section)


def load_settings(
    env: Mapping[str, str] | None = None, config_file: Path | None = None, **overrides
) -> Settings:
    """Build the settings from file, environment and overrides (``None`` overrides are ignored)."""
    env = os.environ if env is None else env
    values: dict = {}
    if config_file is None and env.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
        if not config_file.exists():
            raise ConfigError(f"ASSISTANT_CONFIG names {config_file}, which does not exist")
    if config_file is None and Path("assistant.toml").is_file():
        config_file = Path("assistant.toml")
    if config_file is not None:
        values.update(_file_values(config_file))
    values.update(_env_values(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid setting {field}: {first['msg']}") from None
    if settings.chunk_max_tokens < settings.chunk_target_tokens:
        raise ConfigError("invalid settings: chunk_max_tokens must be at least chunk_target_tokens")
    return settings
