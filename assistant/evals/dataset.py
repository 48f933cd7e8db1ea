"""The eval set: golden questions (with their type and split), the corpus they are asked
over, and the eval's own index of that corpus."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..bundled import evals_dir
from ..errors import AssistantError
from ..followup import Turn

TYPES = (
    "factoid",
    "list",
    "who",
    "numeric",
    "why",
    "paraphrase",
    "multi-doc",
    "unanswerable",
    "follow-up",
    "yes-no",
    "update",
    "conflict",
    "date-bound",
)
# Tune on dev (read its failures); report on test (never read while tuning).
SPLITS = ("dev", "test")

EVALS_DIR = evals_dir()
DEFAULT_DATASET = EVALS_DIR / "golden.jsonl"
# Settings that shape the index: a change of any of them needs a new eval index.
_INDEX_SHAPING = {
    "embedding",
    "openai_embedding_model",
    "chunk_target_tokens",
    "chunk_max_tokens",
    "chunk_min_tokens",
    "chunk_overlap_tokens",
}


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    type: str
    question: str
    answer: str
    must_include: tuple  # facts, each a string or a tuple of alternatives
    sources: tuple[str, ...]
    evidence: tuple[str, ...]
    history: tuple[Turn, ...] = ()
    split: str = "dev"

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


def _question(row: dict) -> EvalQuestion:
    return EvalQuestion(
        id=row["id"],
        type=row["type"],
        question=row["question"],
        answer=row["answer"],
        must_include=tuple(tuple(m) if isinstance(m, list) else m for m in row["must_include"]),
        sources=tuple(row["sources"]),
        evidence=tuple(row["evidence"]),
        history=tuple(Turn(t["question"], t.get("answer", "")) for t in row.get("history", [])),
        split=row.get("split", "dev"),
    )


def load_dataset(path: Path) -> list[EvalQuestion]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AssistantError(f"cannot read eval dataset {path}: {exc.strerror or exc}") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = _question(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise AssistantError(
                f"{path} line {number}: not a valid eval question ({type(exc).__name__}: {exc})"
            ) from None
        if question.type not in TYPES:
            raise AssistantError(f"{path} line {number}: unknown type '{question.type}'")
        if question.split not in SPLITS:
            raise AssistantError(f"{path} line {number}: unknown split '{question.split}' (dev or test)")
        questions.append(question)
    if not questions:
        raise AssistantError(f"eval dataset {path} has no questions")
    return questions


def select_split(questions: list[EvalQuestion], split: str | None) -> list[EvalQuestion]:
    """The questions of one split ('dev' or 'test'), or all of them for None or 'all'."""
    if split in (None, "all"):
        return questions
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        raise AssistantError(f"the eval dataset has no '{split}' questions")
    return chosen


def corpus_files(dataset: Path) -> list[Path]:
    """The eval corpus: ``corpus/`` beside the dataset (in this repository it links the
    sample article of ``articles/`` too, so a wheel carries it with the rest)."""
    folder = Path(dataset).parent / "corpus"
    files = sorted([*folder.glob("*.txt"), *folder.glob("*.md")])
    if not files:
        raise AssistantError(f"no eval corpus next to {dataset} (expected a corpus/ folder)")
    return files


def corpus_fingerprint(files: Iterable[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def eval_settings(settings, files: list[Path]):
    """Settings pointing at the eval's own index, keyed by corpus and index-shaping settings:
    reused while they are unchanged, never the user's index. Returns (settings, key)."""
    shaping = settings.model_dump_json(include=_INDEX_SHAPING)
    # The files' locations are part of the key: an article's identity is its path, so the
    # same corpus in another checkout must not add second copies to this index.
    key = corpus_fingerprint(files, shaping, *sorted(str(f.resolve()) for f in files))
    index_dir = settings.cache_dir / "eval-index" / key
    return settings.model_copy(update={"index_dir": index_dir, "chroma_host": None}), key


def open_eval_answerer(settings, files: list[Path], provider: str | None):
    """The answerer over the eval's own index of ``files`` (brought up to date first).
    Returns (answerer, eval settings, corpus key)."""
    from ..ingest import ingest
    from ..service import open_answerer

    esettings, key = eval_settings(settings, files)
    ingest(files, esettings)
    return open_answerer(esettings, provider), esettings, key
