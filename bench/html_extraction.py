"""Article-body extraction on real news pages, scored by the benchmark's own scorer.

The 60 pages of ``../shared/bench/html-articles/`` (gzip-compressed HTML as a browser
fetched them, with the article body a person marked) go through the whole loader,
``assistant.documents.load_file``, as ``.html`` files; the article text it gives is
scored against the true body with that folder's ``evaluate.py`` (token-shingle precision,
recall and F1, the public article-extraction benchmark's scorer), imported by path and
not copied. A page whose load raises, or gives no text, is a lost page.

    .venv/bin/python bench/html_extraction.py              # or: make bench-html
    .venv/bin/python bench/html_extraction.py --old-from-git 81217bf   # re-measure the old reader

The old, hand-written reader's figures are the ones measured by running it once
(``--old-from-git 81217bf`` runs it again from git).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "html-articles"
sys.path.insert(0, str(ROOT))

# The hand-written reader of 81217bf (assistant/documents.py), measured once with this
# script's --old-from-git 81217bf on the same 60 pages.
OLD_READER = {"reader": "hand-written (81217bf)", "f1": 0.832, "precision": 0.742, "recall": 0.946, "lost": 1}


def load_scorer(data: Path):
    spec = importlib.util.spec_from_file_location("article_extraction_evaluate", data / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unpack(data: Path, into: Path) -> list[Path]:
    """The pages as ``<key>.html`` files (the loader reads files), decompressed up front
    so the timing below is the loader's alone."""
    pages = []
    for gz in sorted((data / "html").glob("*.html.gz")):
        page = into / gz.name.removesuffix(".gz")
        page.write_bytes(gzip.decompress(gz.read_bytes()))
        pages.append(page)
    return pages


def run_reader(load_file, pages: list[Path]) -> tuple[dict[str, dict], list[str], float]:
    """Each page's extracted body, the pages lost (with why), and the loader's seconds."""
    prediction, lost = {}, []
    started = time.perf_counter()
    for page in pages:
        key = page.name.removesuffix(".html")
        try:
            text = "\n".join(a.text for a in load_file(page).articles)
        except Exception as exc:  # noqa: BLE001 - a lost page is reported, not raised
            text = ""
            lost.append(f"{key[:12]}: {exc}")
        if not text.strip() and not any(item.startswith(key[:12]) for item in lost):
            lost.append(f"{key[:12]}: no text")
        prediction[key] = {"articleBody": text}
    return prediction, lost, time.perf_counter() - started


def old_reader_from_git(commit: str):
    """``load_file`` of assistant/documents.py at ``commit``, imported inside the current
    ``assistant`` package (its relative imports resolve there)."""
    source = subprocess.run(
        ["git", "show", f"{commit}:assistant/documents.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="old-reader-")) / "old_documents.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("assistant._old_documents", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.load_file


def score(scorer, truth: dict, reader: str, load_file, pages: list[Path], n_bootstrap: int) -> dict:
    prediction, lost, seconds = run_reader(load_file, pages)
    metrics = scorer.evaluate(truth, prediction, n_bootstrap)
    return {
        "reader": reader,
        "f1": round(metrics["f1"], 3),
        "precision": round(metrics["precision"], 3),
        "recall": round(metrics["recall"], 3),
        "f1_std": round(metrics["f1_std"], 3),
        "lost": len(lost),
        "lost_pages": lost,
        "pages": len(pages),
        "seconds": round(seconds, 2),
        "pages_per_s": round(len(pages) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="The html-articles folder.")
    parser.add_argument("--old-from-git", metavar="COMMIT", help="Also run the old reader of this commit.")
    parser.add_argument("--n-bootstrap", type=int, default=200, help="Bootstrap samples for the F1 spread.")
    parser.add_argument("--out", type=Path, help="Write the figures as JSON here.")
    args = parser.parse_args()
    if not (args.data / "evaluate.py").is_file():
        sys.exit(f"no benchmark at {args.data} (expected evaluate.py, ground-truth.json and html/)")
    from assistant.documents import load_file

    scorer = load_scorer(args.data)
    truth = json.loads((args.data / "ground-truth.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="html-articles-") as tmp:
        pages = unpack(args.data, Path(tmp))
        load_file(pages[0])  # imports and first-use set-up are not per-page costs
        rows = [score(scorer, truth, "assistant.documents.load_file", load_file, pages, args.n_bootstrap)]
        if args.old_from_git:
            old = old_reader_from_git(args.old_from_git)
            rows.append(
                score(scorer, truth, f"hand-written ({args.old_from_git})", old, pages, args.n_bootstrap)
            )
        else:
            rows.append(OLD_READER)
    print_table(rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")


def print_table(rows: list[dict]) -> None:
    print("| reader | body F1 | precision | recall | pages lost | pages/s through load_file |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        speed = row.get("pages_per_s", "(recorded)")
        print(
            f"| {row['reader']} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
            f"| {row['lost']} | {speed} |"
        )
    for row in rows:
        for item in row.get("lost_pages", []):
            print(f"lost by {row['reader']}: {item}")


if __name__ == "__main__":
    main()
