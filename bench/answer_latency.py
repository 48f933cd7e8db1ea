"""Answer latency and citation repairs per provider on the sample article.

    .venv/bin/python bench/answer_latency.py [--providers extractive,local,openai]

For 'openai' it starts the local model behind llama.cpp's OpenAI-compatible server on
127.0.0.1 (as the tests do), so the figure includes the HTTP and streaming path.
Prints a table and writes bench/results/answer_latency.json. Times are cold for the first
question (model load and an empty prompt cache) and warm after.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.answer import Answerer  # noqa: E402
from assistant.config import load_settings  # noqa: E402
from assistant.embeddings import MiniLMEmbeddings  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.providers import make_provider  # noqa: E402
from assistant.retrieval import Searcher  # noqa: E402
from assistant.store import PassageStore  # noqa: E402

QUESTIONS = [
    "What did Alibaba deny?",
    "What customer data does Alibaba allegedly give the PLA?",
    "Who is John Moolenaar?",
    "Did Alibaba comment on whether it has a relationship with the PLA?",
    "What did US lawmakers ask the SEC to do in May?",
    "What is the Salt Typhoon campaign?",
    "What is Alibaba's current stock price?",  # unanswerable
    "Who won the 2022 World Cup?",  # unanswerable
]
UNANSWERABLE = {"What is Alibaba's current stock price?", "Who won the 2022 World Cup?"}


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "assistant.providers.serve", "--port", str(port)], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(360):
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("model server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", default="extractive,local,openai")
    parser.add_argument("--out", type=Path, default=Path("bench/results/answer_latency.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assistant-answer-bench-"))
    base = load_settings(env={}, index_dir=work / "index")
    embeddings = MiniLMEmbeddings()
    ingest([Path("articles")], base, embeddings=embeddings)
    results = {}
    for name in args.providers.split(","):
        settings, server = base, None
        if name == "openai":
            server, url = start_server()
            settings = base.model_copy(update={"openai_base_url": url, "openai_model": "local-qwen"})
        searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
        started = time.perf_counter()
        answerer = Answerer(searcher, make_provider(settings, searcher, name), settings)
        setup_s = time.perf_counter() - started
        rows = []
        for q in QUESTIONS:
            a = answerer.ask(q)
            rows.append(
                {
                    "question": q,
                    "answer": a.text,
                    "refused": a.refused,
                    "refusal_correct": a.refused == (q in UNANSWERABLE),
                    "first_token_s": round(a.timings.get("first_token_s", a.timings["total_s"]), 2),
                    "total_s": round(a.timings["total_s"], 2),
                    "repairs": a.repairs.as_json(),
                }
            )
            print(f"[{name}] {rows[-1]['total_s']:6.2f}s {'REFUSED' if a.refused else ''} {q} -> {a.text[:110]}", flush=True)
        if server:
            server.terminate()
        repairs = {k: sum(r["repairs"][k] for r in rows) for k in rows[0]["repairs"]}
        results[name] = {
            "setup_s": round(setup_s, 2),
            "first_token_cold_s": rows[0]["first_token_s"],
            "first_token_warm_p50_s": round(statistics.median(r["first_token_s"] for r in rows[1:]), 2),
            "total_cold_s": rows[0]["total_s"],
            "total_warm_p50_s": round(statistics.median(r["total_s"] for r in rows[1:]), 2),
            "total_max_s": max(r["total_s"] for r in rows),
            "refusals_correct": f"{sum(r['refusal_correct'] for r in rows)}/{len(rows)}",
            "repairs": repairs,
            "questions": rows,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| provider | first token cold | first token warm p50 | total cold | total warm p50 | total max | refusals right | citations kept / moved / added / dropped | sentences removed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        rp = r["repairs"]
        print(
            f"| {name} | {r['first_token_cold_s']} s | {r['first_token_warm_p50_s']} s | {r['total_cold_s']} s | "
            f"{r['total_warm_p50_s']} s | {r['total_max_s']} s | {r['refusals_correct']} | "
            f"{rp['kept']} / {rp['moved']} / {rp['added']} / {rp['dropped']} | {rp['unsupported_sentences']} |"
        )


if __name__ == "__main__":
    main()
