"""Time to the first streamed token in `assistant chat` itself, as a person sees it.

    .venv/bin/python bench/chat_first_token.py [--provider local] [--runs 3] [--pauses 0,10,20,40]

Drives the real `assistant chat` in a pseudo-terminal on the sample article (freshly
ingested into a temporary index) and times, from the Enter key to the screen:

- the first answer text streamed (the spinner and the dim rewrite line do not count),
- the prompt coming back (the verified answer and its footnotes printed).

The first question comes ``--pauses`` seconds after the prompt appears (0: typed the
instant it shows; a person reading the greeting and typing takes about 10 to 20), each in
``--runs`` fresh chats: while they type, the chat loads the index and the model and has it
read the prompts ahead. After the longest pause the conversation goes on, with follow-ups
and further questions, so those are timed too.

With the local model server (``--server shared``, the default setting) the question typed
at once is also timed against a server in each state a chat can find: none running
(``cold``: the chat starts it), one just started (``fresh``: the model loaded, nothing read
yet) and one that earlier chats on the article used (``warm``, as for every later chat of
the day); the other pauses find it warm. ``--server off`` runs the model inside each chat
(``local_server = false``), as before the server.

Prints a table and writes bench/results/chat_first_token.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PROMPT = "› "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|[\x00-\x08\x0b\x0c\x0e-\x1f]")
SPINNER = re.compile(r"^[\u2800-\u28ff]")  # rich's "dots" spinner frames
STATUS_LINES = ("searching the articles", "reading ", "opening the index", "loading the ")

# (question, is it a follow-up of the one before)
CONVERSATION = [
    ("What did Alibaba deny?", False),
    ("Did it say whether it ever had a relationship with the PLA?", True),
    ("What customer data does Alibaba allegedly give the PLA?", False),
    ("Who is John Moolenaar?", False),
    ("What did he urge the SEC to do?", True),
    ("What is the Salt Typhoon campaign?", False),
    ("What is Alibaba's current stock price?", False),
]


def _is_answer_text(fragment: str, question: str) -> bool:
    """Whether a fragment of screen output is answer text (not echo, spinner or status)."""
    text = fragment.strip()
    if not text or text == question or text == PROMPT.strip():
        return False
    if SPINNER.match(text) or text.startswith("↳"):
        return False
    return not any(text.startswith(status) for status in STATUS_LINES)


def ask(child, question: str, timeout: float = 300) -> dict:
    """Type ``question``, press Enter, and time the first answer text and the next prompt."""
    import pexpect

    child.send(question)
    child.expect_exact(question)  # the echo: the clock starts at Enter, as for a person
    child.send("\r")
    started = time.perf_counter()
    first = None
    screen = ""
    deadline = started + timeout
    while True:
        try:
            chunk = child.read_nonblocking(4096, timeout=max(0.0, deadline - time.perf_counter()))
        except pexpect.TIMEOUT:
            raise RuntimeError(f"no answer to {question!r} within {timeout} s") from None
        now = time.perf_counter()
        screen += chunk
        plain = ANSI.sub("", screen)
        if first is None and any(_is_answer_text(f, question) for f in re.split(r"[\r\n]+", plain)):
            first = now - started
        if first is not None and plain.rstrip(" ").endswith(PROMPT.strip()):
            return {
                "question": question,
                "first_text_s": round(first, 3),
                "prompt_back_s": round(now - started, 3),
            }


def spawn(env: dict, cwd: Path):
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "assistant", "chat"],
        env=env,
        cwd=str(cwd),
        encoding="utf-8",
        dimensions=(50, 200),
        timeout=300,
    )
    child.expect_exact(PROMPT)
    return child


def quit_chat(child) -> None:
    import pexpect

    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--provider", default="local", choices=["local", "extractive"])
    parser.add_argument("--runs", type=int, default=3, help="Fresh chat processes per way of starting.")
    parser.add_argument(
        "--pauses",
        default="0,10,20,40",
        help=(
            "Seconds between the prompt and the first question (comma-separated); "
            "the conversation follows the longest."
        ),
    )
    parser.add_argument(
        "--server",
        choices=["shared", "off"],
        default="shared",
        help="The local model in a shared server, or in each chat.",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "chat_first_token.json")
    args = parser.parse_args()

    from assistant.config import load_settings

    cache_dir = load_settings().cache_dir  # the model and tokenizer files already assembled
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        work = Path(tmp)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),  # the chat's line history goes here
            "TERM": "xterm-256color",
            "ASSISTANT_INDEX": str(work / "index"),
            "ASSISTANT_CACHE_DIR": str(cache_dir),
            "ASSISTANT_PROVIDER": args.provider,
            "ASSISTANT_LOCAL_SERVER": str(args.server == "shared").lower(),
            "ASSISTANT_SERVER_DIR": str(work / "server"),
            # to time another checkout of the package: PYTHONPATH=/that/checkout
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        }
        subprocess.run(
            [sys.executable, "-m", "assistant", "ingest", str(ROOT / "articles")],
            env=env,
            cwd=work,
            check=True,
            capture_output=True,
        )

        pauses = sorted(float(p) for p in args.pauses.split(","))
        first_questions: dict[str, list[dict]] = {}
        conversations = []
        server_states: dict[str, list[dict]] = {}
        if args.server == "shared" and args.provider == "local":
            try:
                for state in ("cold", "fresh", "warm"):
                    for _ in range(args.runs):
                        if state != "warm":
                            server_command(env, work, "stop")
                        if state == "fresh":
                            server_command(env, work, "start")
                        child = spawn(env, work)
                        server_states.setdefault(state, []).append(ask(child, CONVERSATION[0][0]))
                        quit_chat(child)
                        print(f"typed at once, {state} server:", server_states[state][-1], flush=True)
                run_pauses(pauses, args.runs, env, work, first_questions, conversations)
            finally:
                server_command(env, work, "stop")
        else:
            run_pauses(pauses, args.runs, env, work, first_questions, conversations)

    later = [t for turns in conversations for t in turns[1:]]

    def summary(rows: list[dict]) -> dict:
        return {
            "first_text_p50_s": p50([r["first_text_s"] for r in rows]),
            "first_text_max_s": max((r["first_text_s"] for r in rows), default=None),
            "prompt_back_p50_s": p50([r["prompt_back_s"] for r in rows]),
        }

    result = {
        "provider": args.provider,
        "server": args.server,
        "article": "articles/ (the sample article)",
        "runs": args.runs,
        "typed_at_once_by_server_state": {state: summary(rows) for state, rows in server_states.items()},
        "first_question_after_pause_s": {pause: summary(rows) for pause, rows in first_questions.items()},
        "next_questions": summary([t for t in later if not t["follow_up"]]),
        "follow_ups": summary([t for t in later if t["follow_up"]]),
        "server_states": server_states,
        "first_questions": first_questions,
        "conversations": conversations,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print_table(result)


def server_command(env: dict, cwd: Path, command: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "assistant", "server", command],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )


def run_pauses(
    pauses: list[float], runs: int, env: dict, work: Path, first_questions: dict, conversations: list
) -> None:
    for pause in pauses:
        rows = first_questions.setdefault(f"{pause:g}", [])
        for _ in range(runs):
            child = spawn(env, work)
            time.sleep(pause)
            if pause == pauses[-1]:  # after the longest pause, a whole conversation
                turns = [
                    {**ask(child, question), "follow_up": follow_up} for question, follow_up in CONVERSATION
                ]
                conversations.append(turns)
                rows.append(turns[0])
            else:
                rows.append(ask(child, CONVERSATION[0][0]))
            quit_chat(child)
            print(f"pause {pause:g} s:", rows[-1], flush=True)


def print_table(result: dict) -> None:
    where = {"shared": "the model server", "off": "the model inside the chat"}.get(
        result.get("server", "off"), ""
    )
    print(
        f"\n`assistant chat` on the sample article, provider {result['provider']} ({where}), "
        f"{result['runs']} fresh chats per row"
    )
    print("\n| question | first answer text p50 (max) | prompt back p50 |\n|---|---|---|")
    states = {
        "cold": "no server running",
        "fresh": "a server just started",
        "warm": "a server earlier chats used",
    }
    rows = [
        (f"first question typed at once, {states[state]}", r)
        for state, r in result.get("typed_at_once_by_server_state", {}).items()
    ]
    rows += [
        (f"first question, typed {pause} s after the prompt appears", r)
        for pause, r in result["first_question_after_pause_s"].items()
    ]
    rows += [
        ("next questions (new topics)", result["next_questions"]),
        ("follow-ups (rewritten first)", result["follow_ups"]),
    ]
    for label, r in rows:
        print(
            f"| {label} | {r['first_text_p50_s']} s ({r['first_text_max_s']} s) "
            f"| {r['prompt_back_p50_s']} s |"
        )


if __name__ == "__main__":
    main()
