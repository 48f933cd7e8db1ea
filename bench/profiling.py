"""Where the time goes: run a piece of work under cProfile and add up its own time by
stage (the embedding model, Chroma, BM25, chunking, loading, the rest), so a benchmark
table can say which part dominates rather than only how long the whole took."""

from __future__ import annotations

import cProfile
import pstats
from typing import Callable

# (stage, substrings of a profiled function's file or name that belong to it), first match wins
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "embedding model (onnxruntime + tokenizer)",
        ("onnxruntime", "tokenizers", "assistant/embeddings.py", "Tokenizer"),
    ),
    # the store package but its lexical side, which is BM25's
    (
        "Chroma (vector index + its SQLite)",
        (
            "chromadb",
            "Bindings",
            "sqlite",
            "hnswlib",
            "assistant/store/chroma.py",
            "assistant/store/passages.py",
            "assistant/store/records.py",
        ),
    ),
    ("BM25 (lexical index)", ("assistant/lexical.py", "assistant/store/lexical_side.py", "scipy", "sparse")),
    ("fusion and hits (retrieval)", ("assistant/retrieval.py",)),
    ("chunking and token counts", ("assistant/chunking.py", "assistant/tokens.py", "tiktoken")),
    (
        "loading files",
        ("assistant/documents/", "bs4", "codecs", "charset", "trafilatura", "lxml", "feedparser", "pypdf"),
    ),
    ("numpy", ("numpy",)),
    # with a Chroma server: the client's wait for the HTTP answer
    (
        "HTTP to the Chroma server (waiting on the socket)",
        ("socket", "httpx", "httpcore", "h11", "selectors", "ssl.py"),
    ),
)


def _stage(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for stage, marks in STAGES:
        if any(mark in where for mark in marks):
            return stage
    return "other Python"


def profile(work: Callable[[], object]) -> tuple[float, dict[str, float], list[dict]]:
    """Run ``work`` under cProfile; returns (total seconds, own seconds per stage, the ten
    functions with the most own time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        work()
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler)
    by_stage: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        stage = _stage(filename, name)
        by_stage[stage] = by_stage.get(stage, 0.0) + own
        functions.append(
            {
                "function": f"{filename.split('site-packages/')[-1]}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 4),
                "stage": stage,
            }
        )
    functions.sort(key=lambda f: f["own_s"], reverse=True)
    total = sum(by_stage.values())
    return total, dict(sorted(by_stage.items(), key=lambda kv: kv[1], reverse=True)), functions[:10]


def as_report(total: float, by_stage: dict[str, float], top: list[dict]) -> dict:
    return {
        "total_s": round(total, 3),
        "stages": {
            stage: {"s": round(s, 3), "share": round(s / total, 3) if total else 0.0}
            for stage, s in by_stage.items()
        },
        "top_functions": top,
    }


def print_report(title: str, report: dict) -> None:
    print(f"\n| {title} | seconds | share |\n|---|---|---|")
    for stage, row in report["stages"].items():
        print(f"| {stage} | {row['s']} | {row['share']:.0%} |")
