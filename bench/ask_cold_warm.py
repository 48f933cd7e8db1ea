"""`assistant ask` as scripts and shells run it: one fresh process per question, on the
sample article, with the local model.

    .venv/bin/python bench/ask_cold_warm.py [--repeat 3] [--modes server,in-process]

For each mode, three `ask`s in a row (the same question), then the first question and three
others, then two asks started together:

- ``server`` (the default setting): the first ask finds no model server (cold: it starts
  one, which loads the model and reads the whole prompt); the next ones find it warm,
  with the prompts read before in its cache;
- ``in-process`` (``local_server = false``, how every ask ran before the server): each ask
  loads the model and reads the whole prompt itself.

Per ask: the process's wall time, the answer's first token and total (from the question
reaching the pipeline, as `ask --json` reports them), the command's peak memory and, with
the server, the server's (its VmHWM; the sum is the most both held at once). Each mode has
its own server folder, stopped at the end. Prints a table and writes
bench/results/ask_cold_warm.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

SAME = "What did Alibaba deny?"
DIFFERENT = [
    "Who is John Moolenaar?",
    "What customer data does Alibaba allegedly give the PLA?",
    "What is Alibaba's current stock price?",
]


def run_ask(question: str, env: dict, cwd: Path) -> dict:
    """One `assistant ask --json` in a fresh process: its wall time, timings and peak memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ask", question, "--json"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = b"", b""
    # os.wait4 gives this child's own peak RSS (ru_maxrss, KB); communicate() would reap it first.
    import threading

    def drain():
        nonlocal out, err
        out, err = proc.stdout.read(), proc.stderr.read()

    reader = threading.Thread(target=drain)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"ask failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    answer = json.loads(out)
    return {
        "question": question,
        "wall_s": round(wall, 2),
        "first_token_s": answer["timings"]["first_token_s"],
        "total_s": answer["timings"]["total_s"],
        "refused": answer["refused"],
        "answer": answer["answer"],
        "command_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "notes": [line for line in err.decode(errors="replace").splitlines() if line.startswith("note:")],
    }


def server_status(env: dict, cwd: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "server", "status", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout)


def stop_server(env: dict, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant", "server", "stop"],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )


def series(mode: str, questions: list[str], env: dict, cwd: Path) -> dict:
    rows = []
    read = cached = 0
    for question in questions:
        rows.append(run_ask(question, env, cwd))
        if mode == "server":  # what the model read of this ask's prompts, and found in its cache
            status = server_status(env, cwd)
            rows[-1]["prompt_tokens_read"] = status["prompt_tokens_read"] - read
            rows[-1]["prompt_tokens_cached"] = status["prompt_tokens_cached"] - cached
            read, cached = status["prompt_tokens_read"], status["prompt_tokens_cached"]
        print(
            f"[{mode}] {rows[-1]['wall_s']:6.2f} s wall, first token {rows[-1]['first_token_s']:5.2f} s: "
            f"{question} -> {rows[-1]['answer'][:70]}",
            flush=True,
        )
    result: dict = {"asks": rows}
    if mode == "server":
        status = server_status(env, cwd)
        result["server_peak_rss_mb"] = status.get("peak_rss_mb")
        result["server_load_s"] = status.get("load_s")
        result["peak_total_mb"] = round(
            (status.get("peak_rss_mb") or 0) + max(r["command_peak_rss_mb"] for r in rows), 1
        )
    else:
        result["peak_total_mb"] = max(r["command_peak_rss_mb"] for r in rows)
    first = rows[0]["wall_s"]
    result["later_over_first"] = [round(r["wall_s"] / first, 2) for r in rows[1:]]
    return result


def at_once(mode: str, questions: list[str], env: dict, cwd: Path) -> dict:
    """Two asks started together (two terminals): with the server they take turns on one
    engine; in-process each loads its own, and the two engines fight for the cores."""
    import threading

    rows: list[dict] = [{} for _ in questions]

    def one(i: int, question: str) -> None:
        rows[i] = run_ask(question, env, cwd)

    threads = [threading.Thread(target=one, args=(i, q)) for i, q in enumerate(questions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = round(time.perf_counter() - started, 2)
    print(f"[{mode}] two asks at once: {[r['wall_s'] for r in rows]} s, both done after {both} s", flush=True)
    return {"asks": rows, "both_done_s": both}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="Asks of the same question in a row.")
    parser.add_argument("--modes", default="server,in-process")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ask_cold_warm.json")
    args = parser.parse_args()

    from assistant.config import load_settings

    cache_dir = load_settings().cache_dir  # where the model is assembled
    results: dict = {"machine": {"cpus": os.cpu_count()}, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="ask-bench-", dir="/tmp") as tmp:
        work = Path(tmp)
        base = {
            **os.environ,
            "ASSISTANT_INDEX": str(work / "index"),
            "ASSISTANT_CACHE_DIR": str(cache_dir),
            "ASSISTANT_PROVIDER": "local",
        }
        subprocess.run(
            [sys.executable, "-m", "assistant", "ingest", str(ROOT / "articles")],
            env=base,
            cwd=work,
            check=True,
            capture_output=True,
        )
        for mode in args.modes.split(","):
            env = {
                **base,
                "ASSISTANT_SERVER_DIR": str(work / f"server-{mode}"),
                "ASSISTANT_LOCAL_SERVER": str(mode == "server").lower(),
            }
            try:
                same = series(mode, [SAME] * args.repeat, env, work)
                if mode == "server":
                    stop_server(env, work)  # the different questions start cold again
                different = series(mode, [SAME, *DIFFERENT], env, work)
                together = at_once(mode, DIFFERENT[:2], env, work)  # with the server: a warm one
            finally:
                if mode == "server":
                    stop_server(env, work)
            results["modes"][mode] = {
                "same_question": same,
                "different_questions": different,
                "two_at_once": together,
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    print(
        "\n| `assistant ask`, fresh processes, sample article | wall time, each ask | later / 1st "
        "| first token, each ask | prompt tokens read (cached), each ask | peak memory, all processes |"
    )
    print("|---|---|---|---|---|---|")
    for mode, by in results["modes"].items():
        for label, r in (
            ("same question 3 times", by["same_question"]),
            ("then 3 other questions", by["different_questions"]),
        ):
            asks = r["asks"]
            walls = ", ".join(f"{a['wall_s']}" for a in asks)
            later = ", ".join(f"{x:.2f}" for x in r["later_over_first"])
            tokens = ", ".join(f"{a['first_token_s']}" for a in asks)
            read = (
                ", ".join(f"{a['prompt_tokens_read']} ({a['prompt_tokens_cached']})" for a in asks)
                if "prompt_tokens_read" in asks[0]
                else "all"
            )
            print(
                f"| {mode}: {label} | {walls} s | {later} | {tokens} s | {read} "
                f"| {r['peak_total_mb'] / 1024:.2f} GB |"
            )
    print("\n| two asks started together | each ask's wall time | both done after |\n|---|---|---|")
    for mode, by in results["modes"].items():
        if "two_at_once" in by:
            r = by["two_at_once"]
            print(f"| {mode} | {', '.join(str(a['wall_s']) for a in r['asks'])} s | {r['both_done_s']} s |")


if __name__ == "__main__":
    main()
