"""Serve the local model over the OpenAI protocol on 127.0.0.1 (llama.cpp's own server).

    .venv/bin/python -m assistant.providers.serve --port 8089

Then ``--provider openai`` with ``OPENAI_BASE_URL=http://127.0.0.1:8089/v1`` talks to it,
which is how the tests exercise the OpenAI path against a real server.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from ..config import load_settings
    from ..errors import AssistantError
    from ..modelfile import ensure_model_file
    from .local import load_engine

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-file", type=Path, help="GGUF file (default: the bundled Qwen2.5-Coder-1.5B)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        path = args.model_file or settings.local_model_file or ensure_model_file(settings.cache_dir)
        engine = load_engine(path, args.threads or os.cpu_count() or 2, args.context, port=args.port)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"serving {path.name} at {engine.listening_address}/v1", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
