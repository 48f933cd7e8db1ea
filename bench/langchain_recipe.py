"""The plain LangChain recipe, measured on the same machine and articles as our pipeline:
``RecursiveCharacterTextSplitter`` (the tutorial's 1000/200 characters), then
``Chroma.from_documents`` with Chroma's own default embedding function (its ONNX
all-MiniLM-L6-v2 class, pointed at the same local model files we use, since it would
otherwise download them), then ``similarity_search``.

Used by ``bench/ingest_search.py --langchain``; runnable alone:

    .venv/bin/python bench/langchain_recipe.py ARTICLES_DIR [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.embeddings import model_files  # noqa: E402

# Files Chroma's class checks for before it would download; it reads only the first two.
_CHROMA_MODEL_FILES = (
    "model.onnx",
    "tokenizer.json",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "vocab.txt",
)


def point_chroma_default_embedding_at_local_files(folder: Path) -> None:
    """Make Chroma's default embedding function load our local MiniLM files instead of
    downloading its own copy (no network here, and the same weights make a fair race)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    onnx = folder / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME
    onnx.mkdir(parents=True, exist_ok=True)
    model, tokenizer = model_files()
    for name, source in (("model.onnx", model), ("tokenizer.json", tokenizer)):
        if not (onnx / name).exists():
            (onnx / name).symlink_to(source)
    for name in _CHROMA_MODEL_FILES[2:]:
        (onnx / name).touch()
    ONNXMiniLM_L6_V2.DOWNLOAD_PATH = folder


def load_documents(articles_dir: Path):
    from langchain_core.documents import Document

    return [
        Document(page_content=path.read_text(encoding="utf-8"), metadata={"source": path.name})
        for path in sorted(articles_dir.glob("*.txt"))
    ]


def run(articles_dir: Path, queries: list[str], work: Path | None = None) -> dict:
    """Ingest ``articles_dir`` the recipe's way and time its searches."""
    import statistics

    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    work = work or Path(tempfile.mkdtemp(prefix="langchain-recipe-"))
    point_chroma_default_embedding_at_local_files(work / "chroma-model")
    documents = load_documents(articles_dir)

    started = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(documents)
    split_s = time.perf_counter() - started

    embed = ONNXMiniLM_L6_V2()
    embed([c.page_content for c in chunks[:32]])  # load the model outside the timing
    started = time.perf_counter()
    embed([c.page_content for c in chunks])
    raw_s = time.perf_counter() - started

    client = chromadb.PersistentClient(
        path=str(work / "index"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    started = time.perf_counter()
    store = Chroma.from_documents(chunks, client=client, collection_name="recipe")
    ingest_s = time.perf_counter() - started + split_s

    for q in queries[:10]:
        store.similarity_search(q, k=4)
    latencies = []
    for q in queries:
        t = time.perf_counter()
        store.similarity_search(q, k=4)
        latencies.append((time.perf_counter() - t) * 1000)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 2)

    size = sum(f.stat().st_size for f in (work / "index").rglob("*") if f.is_file())
    return {
        "articles": len(documents),
        "chunks": len(chunks),
        "raw_embedder_chunks_per_s": round(len(chunks) / raw_s, 1),
        "ingest_s": round(ingest_s, 1),
        "ingest_chunks_per_s": round(len(chunks) / ingest_s, 1),
        "ingest_articles_per_s": round(len(documents) / ingest_s, 2),
        "index_size_mb": round(size / 1e6, 1),
        "search_ms": {"p50": round(statistics.median(latencies), 2), "p95": pct(95), "p99": pct(99)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("articles", type=Path)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from newsgen import queries

    print(json.dumps(run(args.articles, queries(args.queries)), indent=2))


if __name__ == "__main__":
    main()
