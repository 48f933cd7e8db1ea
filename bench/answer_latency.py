"""Answer latency and citation repairs per provider on the sample article.

    .venv/bin/python bench/answer_latency.py [--providers extractive,local,openai]

For 'openai' it starts the local model behind llama.cpp's OpenAI-compatible server on
127.0.0.1 (as the tests do), so the figure includes the HTTP and streaming path.
Prints a table and writes bench/results/answer_latency.json. Per provider: the first
question in a fresh process (cold: model load, empty prompt cache), and the questions
asked one after another. What a person waits for in `assistant chat` itself (the model
loaded and the prompts read ahead while they type) is measured by chat_first_token.py.
"""

from __future__ import annotations

import argparse
import json
import resource
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
from assistant.prompts import DEFAULT_PROMPTS_DIR, load_prompts  # noqa: E402
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.providers.serve", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(360):
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("model server did not start")


def ask_timed(answerer: Answerer, question: str, prompts) -> dict:
    a = answerer.ask(question)
    passages = [h.passage for h in a.passages]
    t = time.perf_counter()
    prompts.messages(question, passages)  # what the provider builds before its request
    prompt_ms = (time.perf_counter() - t) * 1000
    return {
        "question": question,
        "answer": a.text,
        "refused": a.refused,
        "refusal_correct": a.refused == (question in UNANSWERABLE),
        "retrieve_s": round(a.timings["retrieve_s"], 3),
        "prompt_ms": round(prompt_ms, 2),
        "first_token_s": round(a.timings.get("first_token_s", a.timings["total_s"]), 2),
        "total_s": round(a.timings["total_s"], 2),
        "repairs": a.repairs.as_json(),
    }


def p50(rows: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", default="extractive,local,openai")
    parser.add_argument("--out", type=Path, default=Path("bench/results/answer_latency.json"))
    parser.add_argument(
        "--focus-tokens",
        type=int,
        default=None,
        help="passage_focus_tokens for model providers (default: the setting's default).",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assistant-answer-bench-"))
    # The local model runs in a model server of this benchmark's own (cold at its first question).
    base = load_settings(env={}, index_dir=work / "index", server_dir=work / "server")
    if args.focus_tokens is not None:
        base = base.model_copy(update={"passage_focus_tokens": args.focus_tokens})
    embeddings = MiniLMEmbeddings()
    ingest([Path("articles")], base, embeddings=embeddings)
    prompts = load_prompts(DEFAULT_PROMPTS_DIR)
    results = {}
    for name in args.providers.split(","):
        settings, server = base, None
        if name == "openai":
            server, url = start_server()
            settings = base.model_copy(update={"openai_base_url": url, "openai_model": "local-qwen"})
        searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
        started = time.perf_counter()
        provider = make_provider(settings, searcher, name)
        answerer = Answerer(searcher, provider, settings)
        setup_s = time.perf_counter() - started
        cold = ask_timed(answerer, QUESTIONS[0], prompts)
        # Questions one after another: the cache also holds the previous question's passages.
        rows = [ask_timed(answerer, q, prompts) for q in QUESTIONS]
        for r in rows:
            print(
                f"[{name}] {r['first_token_s']:6.2f}s {r['total_s']:6.2f}s "
                f"{'REFUSED' if r['refused'] else ''} {r['question']} -> {r['answer'][:100]}",
                flush=True,
            )
        if server:
            server.terminate()
        if name == "local" and settings.local_server:
            from assistant.providers.model_server import ModelServer

            ModelServer(folder=settings.server_dir).stop()
        repairs = {k: sum(r["repairs"][k] for r in rows) for k in rows[0]["repairs"]}
        results[name] = {
            "setup_s": round(setup_s, 2),
            "passage_focus_tokens": settings.passage_focus_tokens,
            "retrieve_p50_s": p50(rows, "retrieve_s"),
            "prompt_p50_ms": p50(rows, "prompt_ms"),
            "first_token_cold_s": cold["first_token_s"],
            "total_cold_s": cold["total_s"],
            "first_token_warm_p50_s": p50(rows, "first_token_s"),
            "total_warm_p50_s": p50(rows, "total_s"),
            "total_max_s": max(r["total_s"] for r in rows),
            "refusals_correct": f"{sum(r['refusal_correct'] for r in rows)}/{len(rows)}",
            "repairs": repairs,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "questions": rows,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        "\n| provider | retrieve p50 | prompt build p50 | first token: cold / next questions p50 "
        "| total: cold / next p50 | refusals right | citations kept / moved / added / dropped "
        "| sentences removed | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        rp = r["repairs"]
        print(
            f"| {name} | {r['retrieve_p50_s']} s | {r['prompt_p50_ms']} ms | "
            f"{r['first_token_cold_s']} s / {r['first_token_warm_p50_s']} s | "
            f"{r['total_cold_s']} s / {r['total_warm_p50_s']} s | {r['refusals_correct']} | "
            f"{rp['kept']} / {rp['moved']} / {rp['added']} / {rp['dropped']} | "
            f"{rp['unsupported_sentences']} | {r['peak_rss_mb']} MB |"
        )


if __name__ == "__main__":
    main()
