"""The whole benchmark in one command: article extraction on 60 real pages, start-up, ingest
and search at several index sizes (with the plain LangChain recipe side by side), answer
latency per provider, `assistant ask` cold and warm (a fresh process per question, with the
model server and without), the time to the first streamed token in `assistant chat` itself,
and the llama.cpp engines side by side.

    .venv/bin/python bench/suite.py                       # 1k and 10k passages (about 15 min on 2 cores)
    .venv/bin/python bench/suite.py --sizes 1000,10000,100000   # adds 100k (about an hour more)

Each part runs in its own process (so peak memory is per part) and writes its JSON under
bench/results/; this prints one table per part and writes bench/results/suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
ASSISTANT = [sys.executable, "-m", "assistant"]


def _first_byte_s(argv: list[str], env: dict, cwd: Path) -> float:
    """Seconds from starting ``argv`` in a pseudo-terminal to its first byte of output."""
    import pexpect

    started = time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=str(cwd), timeout=300)
    child.read_nonblocking(1, timeout=300)
    elapsed = time.perf_counter() - started
    child.terminate(force=True)
    return elapsed


def startup(runs: int = 5) -> dict:
    """`assistant --help` to exit and to first byte; `ask` and `chat` to their first byte,
    each in a fresh process (cold interpreter; the OS file cache is warm, as on a laptop)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="assistant-startup-"))
    env = {
        **os.environ,
        "ASSISTANT_INDEX": str(work / "index"),
        "ASSISTANT_SERVER_DIR": str(work / "server"),
        "TERM": "xterm",
    }
    subprocess.run(
        [*ASSISTANT, "ingest", str(ROOT / "articles")], env=env, check=True, capture_output=True, cwd=work
    )
    figures: dict[str, list[float]] = {
        "help_exit_s": [],
        "help_first_byte_s": [],
        "ask_first_byte_s": [],
        "chat_prompt_s": [],
    }
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*ASSISTANT, "--help"], env=env, check=True, capture_output=True, cwd=work)
        figures["help_exit_s"].append(time.perf_counter() - t)
        figures["help_first_byte_s"].append(_first_byte_s([*ASSISTANT, "--help"], env, work))
        figures["ask_first_byte_s"].append(
            _first_byte_s(
                [*ASSISTANT, "ask", "What did Alibaba deny?", "--provider", "extractive"], env, work
            )
        )
        figures["chat_prompt_s"].append(_chat_prompt_s(env, work))
    subprocess.run(
        [*ASSISTANT, "server", "stop"], env=env, capture_output=True, cwd=work
    )  # the chats started one
    return {name: round(statistics.median(values), 3) for name, values in figures.items()}


def _chat_prompt_s(env: dict, cwd: Path) -> float:
    import pexpect

    started = time.perf_counter()
    child = pexpect.spawn(
        ASSISTANT[0], [*ASSISTANT[1:], "chat"], env=env, cwd=str(cwd), encoding="utf-8", timeout=300
    )
    child.expect_exact("› ")
    elapsed = time.perf_counter() - started
    child.sendeof()
    child.expect(pexpect.EOF)
    return elapsed


def run_part(script: str, *args: str) -> None:
    print(f"\n$ {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="Index sizes in passages (comma-separated).")
    parser.add_argument(
        "--langchain-sizes", default="1000", help="Sizes at which the LangChain recipe also runs."
    )
    parser.add_argument(
        "--server-sizes", default="1000", help="Sizes also measured on a `chroma run` server."
    )
    parser.add_argument(
        "--providers", default="extractive,local,openai", help="Providers for answer latency."
    )
    parser.add_argument(
        "--skip", default="", help="Parts to skip: html, startup, search, answer, ask, chat, engines."
    )
    parser.add_argument(
        "--llama-cpp-python",
        help="A Python that imports llama_cpp, for the engine comparison (default: this one, if it can).",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    suite: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}

    if "html" not in skip:
        out = RESULTS / "html_extraction.json"
        run_part("html_extraction.py", "--out", str(out))
        suite["html"] = json.loads(out.read_text())
    if "startup" not in skip:
        suite["startup"] = startup()
        print(json.dumps(suite["startup"], indent=2), flush=True)
    if "search" not in skip:
        langchain_sizes = set(args.langchain_sizes.split(","))
        suite["sizes"] = {}
        sizes = args.sizes.split(",")
        for size in sizes:
            out = RESULTS / f"ingest_search_{size}.json"
            extra = ["--langchain"] if size in langchain_sizes else []
            if size == min(
                sizes, key=int
            ):  # where ingest time goes, once (it is the same per passage at any size)
                extra.append("--profile-ingest")
            if (
                int(size) >= 50_000
            ):  # build big indexes with cheap vectors: search cost is what is measured there
                extra.append("--fast-vectors")
            run_part("ingest_search.py", "--passages", size, "--out", str(out), *extra)
            suite["sizes"][size] = json.loads(out.read_text())
        suite["server_sizes"] = {}
        for size in filter(None, args.server_sizes.split(",")):
            out = RESULTS / f"ingest_search_server_{size}.json"
            run_part("ingest_search.py", "--passages", size, "--chroma-server", "--out", str(out))
            suite["server_sizes"][size] = json.loads(out.read_text())
    if "answer" not in skip:
        out = RESULTS / "answer_latency.json"
        run_part("answer_latency.py", "--providers", args.providers, "--out", str(out))
        suite["answer"] = json.loads(out.read_text())
    if "ask" not in skip:
        out = RESULTS / "ask_cold_warm.json"
        run_part("ask_cold_warm.py", "--out", str(out))
        suite["ask"] = json.loads(out.read_text())
    if "chat" not in skip:
        out = RESULTS / "chat_first_token.json"
        run_part("chat_first_token.py", "--provider", "local", "--out", str(out))
        suite["chat"] = json.loads(out.read_text())
    if "engines" not in skip:
        out = RESULTS / "engines.json"
        extra = ["--llama-cpp-python", args.llama_cpp_python] if args.llama_cpp_python else []
        run_part("engines.py", "--out", str(out), *extra)
        suite["engines"] = json.loads(out.read_text())

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "suite.json").write_text(json.dumps(suite, indent=2) + "\n")
    print_summary(suite)


def print_summary(suite: dict) -> None:
    if "html" in suite:
        print(
            "\n| reader (60 real article pages) | body F1 | precision | recall | pages lost | pages/s |"
            "\n|---|---|---|---|---|---|"
        )
        for row in suite["html"]["rows"]:
            speed = row.get("pages_per_s", "(recorded)")
            print(
                f"| {row['reader']} | {row['f1']:.3f} | {row['precision']:.3f} | {row['recall']:.3f} "
                f"| {row['lost']} | {speed} |"
            )
    if "startup" in suite:
        s = suite["startup"]
        print("\n| start-up (median of 5, fresh processes) | seconds |\n|---|---|")
        for key, label in (
            ("help_exit_s", "`assistant --help`, to exit"),
            ("help_first_byte_s", "`assistant --help`, first byte"),
            ("ask_first_byte_s", "`assistant ask` (extractive), first byte"),
            ("chat_prompt_s", "`assistant chat`, first prompt"),
        ):
            print(f"| {label} | {s[key]} |")
    if suite.get("sizes"):
        print(
            "\n| passages | raw embed /s | ingest /s (ratio) | index MB | peak RSS MB "
            "| dense p50/p95/p99 ms | BM25 p50/p95/p99 ms | hybrid p50/p95/p99 ms |"
        )
        print("|---|---|---|---|---|---|---|---|")
        rows = [(r, "") for r in suite["sizes"].values()] + [
            (r, " (server)") for r in suite.get("server_sizes", {}).values()
        ]
        for r, where in rows:
            ms = r["search_ms"]
            trio = lambda k: f"{ms[k]['p50']} / {ms[k]['p95']} / {ms[k]['p99']}"  # noqa: E731
            print(
                f"| {r['passages']:,}{where}{' (fast vectors)' if r.get('fast_vectors') else ''} "
                f"| {r['raw_embedder_passages_per_s']} | {r['ingest_passages_per_s']} "
                f"({r['ingest_over_raw']:.0%}) | {r['index_size_mb']} | {r['peak_rss_mb']} | "
                f"{trio('dense')} | {trio('bm25')} | {trio('hybrid')} |"
            )
        sys.path.insert(0, str(HERE))
        from profiling import print_report

        for size, r in suite["sizes"].items():
            if "ingest_profile" in r:
                print_report(
                    f"where ingesting {r['passages']:,} passages spends its time (cProfile, own time)",
                    r["ingest_profile"],
                )
        largest = max(suite["sizes"].values(), key=lambda r: r["passages"])
        if "search_profile" in largest:
            print_report(
                f"where a hybrid query spends its time at {largest['passages']:,} passages "
                "(cProfile, own time)",
                largest["search_profile"],
            )
        for size, r in suite["sizes"].items():
            if "langchain" in r:
                sys.path.insert(0, str(HERE))
                from ingest_search import print_comparison

                print(f"\nside by side at {size} passages:")
                print_comparison(r)
    if "answer" in suite:
        print(
            "\n| provider | retrieve p50 | prompt build p50 | first token: cold / next questions p50 "
            "| total: cold / next p50 | peak RSS MB |"
        )
        print("|---|---|---|---|---|---|")
        for name, r in suite["answer"].items():
            print(
                f"| {name} | {r.get('retrieve_p50_s', '')} s | {r.get('prompt_p50_ms', '')} ms | "
                f"{r['first_token_cold_s']} / {r['first_token_warm_p50_s']} s | "
                f"{r['total_cold_s']} / {r['total_warm_p50_s']} s | {r.get('peak_rss_mb', '')} |"
            )
    if "ask" in suite:
        sys.path.insert(0, str(HERE))
        from ask_cold_warm import print_table as print_ask_table

        print_ask_table(suite["ask"])
    if "chat" in suite:
        sys.path.insert(0, str(HERE))
        from chat_first_token import print_table

        print_table(suite["chat"])
    if "engines" in suite:
        sys.path.insert(0, str(HERE))
        from engines import print_table as print_engines_table

        print_engines_table(suite["engines"])


if __name__ == "__main__":
    main()
