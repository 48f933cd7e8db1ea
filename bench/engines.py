"""The llama.cpp engines side by side on the local model: prompt reading and generation
speed, same model file, same threads, same prompt, each engine in its own process.

    .venv/bin/python bench/engines.py [--threads 2] [--runs 3] [--llama-cpp-python /path/to/venv/bin/python]

- ``xllamacpp`` (what the assistant runs; a prebuilt wheel) with the batch the assistant
  uses (128 tokens, so that a request can stop within a batch) and llama.cpp's usual 512;
- ``llama-cpp-python`` (no wheel on PyPI: it builds from source, about 8 minutes on 2
  cores), when this Python or the one given by ``--llama-cpp-python`` can import it.

The prompt is the sample article under the assistant's system prompt (about 800 tokens,
ChatML), read whole each run (no prompt cache), then 64 tokens are generated. Speeds are
wall-clock: prompt tokens over the time to the first generated token, and the other 63
tokens over the time after it. Median of ``--runs`` after one warm-up run. Prints a table
and writes bench/results/engines.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GENERATE = 64


def prompt_text() -> str:
    system = (ROOT / "prompts" / "answer_system.txt").read_text(encoding="utf-8")
    article = (ROOT / "articles" / "alibaba-pla-white-house-memo.txt").read_text(encoding="utf-8")
    user = f"{article}\n\nWrite a long, detailed summary of this article, paragraph by paragraph."
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


def measure_xllamacpp(model: str, threads: int, batch: int, runs: int) -> dict:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model
    params.n_ctx = 4096
    params.n_parallel = 1
    params.n_batch = params.n_ubatch = batch
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads
    params.sampling.temp = 0.0
    params.verbosity = -1
    started = time.perf_counter()
    engine = xllamacpp.Server(params)
    load_s = time.perf_counter() - started
    request = {
        "prompt": prompt_text(),
        "n_predict": GENERATE,
        "ignore_eos": True,
        "temperature": 0.0,
        "cache_prompt": False,
        "stream": True,
    }

    def once() -> dict:
        marks: list[float] = []
        timings: dict = {}

        def on_chunk(chunk) -> bool:
            if isinstance(chunk, dict):
                if any(choice.get("text") for choice in chunk.get("choices") or ()):
                    marks.append(time.perf_counter())
                timings.update(chunk.get("timings") or {})
            return False

        begin = time.perf_counter()
        engine.handle_completions(request, on_chunk)
        return _speeds(begin, marks, timings.get("prompt_n"), own=timings)

    return _runs(once, runs, load_s)


def measure_llama_cpp_python(model: str, threads: int, batch: int, runs: int) -> dict:
    import llama_cpp

    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=model,
        n_ctx=4096,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=batch,
        n_ubatch=batch,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    text = prompt_text()
    n_prompt = len(llm.tokenize(text.encode(), add_bos=False, special=True))
    eos = llm.token_eos()

    def once() -> dict:
        llm.reset()  # read the whole prompt again, as the other engine does
        marks: list[float] = []
        begin = time.perf_counter()
        for chunk in llm.create_completion(
            text, max_tokens=GENERATE, temperature=0.0, stream=True, logit_bias={eos: -1e9}
        ):
            if chunk["choices"][0].get("text") is not None:
                marks.append(time.perf_counter())
        return _speeds(begin, marks, n_prompt)

    result = _runs(once, runs, load_s)
    result["version"] = llama_cpp.__version__
    return result


def _speeds(begin: float, marks: list[float], n_prompt, own: dict | None = None) -> dict:
    row = {
        "prompt_tokens": n_prompt,
        "generated": len(marks),
        "prompt_tok_s": round(n_prompt / (marks[0] - begin), 1) if marks and n_prompt else None,
        "generation_tok_s": round((len(marks) - 1) / (marks[-1] - marks[0]), 1) if len(marks) > 1 else None,
    }
    if own:  # llama.cpp's own figures, where the engine reports them
        row["own_prompt_tok_s"] = round(own.get("prompt_per_second", 0.0), 1)
        row["own_generation_tok_s"] = round(own.get("predicted_per_second", 0.0), 1)
    return row


def _runs(once, runs: int, load_s: float) -> dict:
    once()  # warm-up: page the model in, first allocations
    rows = [once() for _ in range(runs)]
    median = lambda key: statistics.median(r[key] for r in rows) if all(r.get(key) for r in rows) else None  # noqa: E731
    return {
        "load_s": round(load_s, 2),
        "prompt_tokens": rows[0]["prompt_tokens"],
        "prompt_tok_s": median("prompt_tok_s"),
        "generation_tok_s": median("generation_tok_s"),
        "runs": rows,
    }


def _child(args: argparse.Namespace) -> None:
    measure = measure_xllamacpp if args.engine == "xllamacpp" else measure_llama_cpp_python
    print(json.dumps(measure(args.model, args.threads, args.batch, args.runs)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--llama-cpp-python",
        dest="lcp_python",
        help="A Python that can import llama_cpp (default: this one, if it can).",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "engines.json")
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=512, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        _child(args)
        return

    sys.path.insert(0, str(ROOT))
    from assistant.config import load_settings
    from assistant.modelfile import ensure_model_file

    model = str(ensure_model_file(load_settings().cache_dir))
    lcp_python = args.lcp_python or sys.executable
    plan = [
        ("xllamacpp", sys.executable, 128),
        ("xllamacpp", sys.executable, 512),
        ("llama-cpp-python", lcp_python, 512),
    ]
    results: dict = {"threads": args.threads, "model": Path(model).name, "engines": {}}
    for engine, python, batch in plan:
        name = f"{engine} (batch {batch})"
        if (
            engine == "llama-cpp-python"
            and subprocess.run([python, "-c", "import llama_cpp"], capture_output=True).returncode != 0
        ):
            print(
                f"{name}: not installed for {python}; build it with `pip install llama-cpp-python` "
                "(about 8 min on 2 cores) and pass --llama-cpp-python",
                flush=True,
            )
            continue
        command = [python, str(Path(__file__).resolve()), "--engine", engine, "--model", model,
                   "--threads", str(args.threads), "--batch", str(batch),
                   "--runs", str(args.runs)]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: failed: {proc.stderr[-1500:]}", flush=True)
            continue
        results["engines"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results["engines"][name]
        print(
            f"{name}: prompt {r['prompt_tok_s']} tok/s, generation {r['generation_tok_s']} tok/s, "
            f"load {r['load_s']} s",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(results: dict) -> None:
    print(
        f"\n| engine, {results['model']}, {results['threads']} threads "
        "| prompt tok/s | generation tok/s | load |"
    )
    print("|---|---|---|---|")
    for name, r in results["engines"].items():
        print(f"| {name} | {r['prompt_tok_s']} | {r['generation_tok_s']} | {r['load_s']} s |")


if __name__ == "__main__":
    main()
