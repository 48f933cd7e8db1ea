"""Benchmark: raw embedder vs ingest throughput on the same passages, and dense / BM25 /
hybrid search latency. Not a test: it prints a table and writes JSON.

    .venv/bin/python bench/ingest_search.py [--passages 10000] [--queries 300] [--langchain]

With ``--langchain`` the plain LangChain recipe (bench/langchain_recipe.py) runs on the same
articles and queries, and every figure gets its side-by-side ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsgen import generate, queries  # noqa: E402
from profiling import as_report, print_report, profile  # noqa: E402

from assistant.chunking import ChunkSizes, chunk_article  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.documents import load_file  # noqa: E402
from assistant.embeddings import MiniLMEmbeddings  # noqa: E402
from assistant.ingest import embedding_text, ingest  # noqa: E402
from assistant.retrieval import Searcher  # noqa: E402
from assistant.store import PassageStore  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def write_corpus(folder: Path, target_passages: int, sizes: ChunkSizes) -> tuple[int, list[str]]:
    """Write generated articles until their chunks reach the target; returns (passages, texts)."""
    folder.mkdir(parents=True)
    texts: list[str] = []
    for fake in generate(max(10, target_passages // 2)):
        path = folder / fake.name
        path.write_text(fake.text, encoding="utf-8")
        for article in load_file(path).articles:
            texts.extend(embedding_text(p) for p in chunk_article(article, sizes))
        if len(texts) >= target_passages:
            break
    return len(texts), texts


def timed(fn, runs: list[str]) -> list[float]:
    out = []
    for q in runs:
        start = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


class PrefixEmbeddings(MiniLMEmbeddings):
    """The same model on each text's first 24 words: vectors of the right kind, cheaply."""

    def embed_array(self, texts, progress=None):
        return super().embed_array([" ".join(t.split()[:24]) for t in texts], progress)


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def start_chroma_server(data: Path):
    """`chroma run` on a free port of 127.0.0.1; returns (process, port) once it answers."""
    import socket
    import subprocess

    import chromadb

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
            return proc, port
        except Exception:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("chroma run did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--langchain", action="store_true", help="Also measure the plain LangChain recipe.")
    parser.add_argument(
        "--fast-vectors",
        action="store_true",
        help=(
            "Embed only each passage's first 24 words (about 6x faster), to build a 100k index for "
            "the search figures in minutes; search cost does not depend on what the vectors encode. "
            "Throughputs are then of that."
        ),
    )
    parser.add_argument(
        "--profile-ingest",
        action="store_true",
        help=(
            "Also ingest the articles once more, into a second index, under cProfile, "
            "and report where the time goes."
        ),
    )
    parser.add_argument(
        "--chroma-server", action="store_true", help="Store in a `chroma run` server started on 127.0.0.1."
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/ingest_search.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="assistant-bench-"))
    settings = load_settings(env={}, index_dir=work / "index", cache_dir=work / "cache")
    server = None
    if args.chroma_server:
        server, port = start_chroma_server(work / "chroma-server")
        settings = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": port})
    sizes = ChunkSizes(
        settings.chunk_target_tokens,
        settings.chunk_max_tokens,
        settings.chunk_min_tokens,
        settings.chunk_overlap_tokens,
    )
    n, texts = write_corpus(work / "articles", args.passages, sizes)
    print(f"corpus: {n} passages in {work / 'articles'}", flush=True)

    embedder_class = PrefixEmbeddings if args.fast_vectors else MiniLMEmbeddings
    embedder = embedder_class(batch_size=settings.embed_batch_size, threads=settings.embed_threads)
    embedder.embed_array(texts[:64])  # load the model outside the timing
    start = time.perf_counter()
    embedder.embed_array(texts)
    raw_rate = n / (time.perf_counter() - start)
    print(f"raw embedder: {raw_rate:.1f} passages/s", flush=True)

    start = time.perf_counter()
    report = ingest([work / "articles"], settings, embeddings=embedder)
    ingest_s = time.perf_counter() - start
    ingest_rate = report.chunks / ingest_s
    print(f"ingest: {ingest_rate:.1f} passages/s ({report.chunks} passages, {ingest_s:.1f} s)", flush=True)

    start = time.perf_counter()
    again = ingest([work / "articles"], settings, embeddings=embedder)
    reingest_s = time.perf_counter() - start

    store = PassageStore.open(settings, embedder.model_id)
    searcher = Searcher(store, embedder, settings)
    qs = queries(args.queries)
    for q in qs[:20]:  # warm caches (query path, lexical load) before timing
        searcher.search(q)
    depth = settings.search_candidates
    vectors = {q: embedder.embed_query(q) for q in qs}
    latencies = {
        "embed_query": timed(embedder.embed_query, qs),
        "dense": timed(lambda q: store.dense_search(vectors[q], depth), qs),
        "bm25": timed(lambda q: store.lexical.search(q, depth), qs),
        "hybrid": timed(lambda q: searcher.search(q, settings.search_k), qs),
    }
    # where a hybrid query's time goes (after the timing above, so profiling does not slow it)
    search_profile = as_report(*profile(lambda: [searcher.search(q, settings.search_k) for q in qs]))
    search_profile["queries"] = len(qs)
    ingest_profile = None
    if args.profile_ingest:
        second = settings.model_copy(update={"index_dir": work / "index-profiled"})
        ingest_profile = as_report(*profile(lambda: ingest([work / "articles"], second, embeddings=embedder)))
    results = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "settings_fingerprint": settings.fingerprint(),
        "passages": report.chunks,
        "fast_vectors": args.fast_vectors,
        "articles": report.added,
        "ingest_s": round(ingest_s, 1),
        "raw_embedder_passages_per_s": round(raw_rate, 1),
        "ingest_passages_per_s": round(ingest_rate, 1),
        "ingest_over_raw": round(ingest_rate / raw_rate, 3),
        "reingest_unchanged_s": round(reingest_s, 2),
        "reingest_embedded": again.chunks,
        "store": "chroma server (HTTP, 127.0.0.1)" if server else "local folder",
        "index_size_mb": round((store.size_on_disk() or _folder_bytes(work / "chroma-server")) / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "search_ms": {
            name: {
                "p50": round(statistics.median(v), 2),
                "p95": round(percentile(v, 95), 2),
                "p99": round(percentile(v, 99), 2),
            }
            for name, v in latencies.items()
        },
        "search_profile": search_profile,
        **({"ingest_profile": ingest_profile} if ingest_profile else {}),
    }
    if args.langchain:
        from langchain_recipe import run as run_recipe

        print("the plain LangChain recipe on the same articles...", flush=True)
        results["langchain"] = run_recipe(work / "articles", qs, work / "langchain")
    if server:
        server.terminate()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print()
    print("| figure | value |\n|---|---|")
    print(f"| passages | {results['passages']:,} |")
    print(f"| raw embedder | {results['raw_embedder_passages_per_s']} passages/s |")
    print(
        f"| ingest | {results['ingest_passages_per_s']} passages/s "
        f"({results['ingest_over_raw']:.0%} of raw) |"
    )
    print(f"| re-ingest, nothing changed | {results['reingest_unchanged_s']} s, {again.chunks} embedded |")
    print(f"| index size | {results['index_size_mb']} MB |")
    print(f"| peak RSS | {results['peak_rss_mb']} MB |")
    for name, row in results["search_ms"].items():
        print(f"| {name} latency | p50 {row['p50']} ms, p95 {row['p95']} ms, p99 {row['p99']} ms |")
    print_report(f"where {len(qs)} hybrid queries spend their time (cProfile, own time)", search_profile)
    if ingest_profile:
        print_report(
            f"where ingesting {results['passages']:,} passages spends its time (cProfile, own time)",
            ingest_profile,
        )
    if "langchain" in results:
        print_comparison(results)
    print(f"\nwritten to {args.out}")


def print_comparison(results: dict) -> None:
    lc = results["langchain"]
    ours_articles_s = results["articles"] / results["ingest_s"]
    rows = [
        ("articles", results["articles"], lc["articles"], None),
        ("passages (their chunks)", results["passages"], lc["chunks"], None),
        (
            "raw embedder, passages/s",
            results["raw_embedder_passages_per_s"],
            lc["raw_embedder_chunks_per_s"],
            "x",
        ),
        ("ingest, articles/s", round(ours_articles_s, 2), lc["ingest_articles_per_s"], "x"),
        ("ingest, passages/s", results["ingest_passages_per_s"], lc["ingest_chunks_per_s"], "x"),
        ("index size, MB", results["index_size_mb"], lc["index_size_mb"], None),
        ("search p50, ms (ours: hybrid)", results["search_ms"]["hybrid"]["p50"], lc["search_ms"]["p50"], "/"),
        ("search p95, ms (ours: hybrid)", results["search_ms"]["hybrid"]["p95"], lc["search_ms"]["p95"], "/"),
        ("search p99, ms (ours: hybrid)", results["search_ms"]["hybrid"]["p99"], lc["search_ms"]["p99"], "/"),
    ]
    print("\n| figure | ours | plain LangChain recipe | ours is |\n|---|---|---|---|")
    for label, ours, theirs, kind in rows:
        if kind == "x":
            ratio = f"{ours / theirs:.1f}x faster" if theirs else ""
        elif kind == "/":
            ratio = f"{theirs / ours:.1f}x faster" if ours else ""
        else:
            ratio = ""
        print(f"| {label} | {ours} | {theirs} | {ratio} |")


if __name__ == "__main__":
    main()
