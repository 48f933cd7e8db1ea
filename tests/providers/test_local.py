"""The real models: the local provider in-process, and the openai provider against a real
OpenAI-compatible llama.cpp server on 127.0.0.1 serving the same model, started here."""

import subprocess
import sys
import time
import urllib.request

import pytest

from assistant.answer import Answerer, Done, Piece
from assistant.errors import ProviderError
from assistant.ingest import ingest
from assistant.providers import make_provider
from assistant.retrieval import Searcher
from assistant.store import PassageStore

from ..conftest import SAMPLE, free_port, new_server_dir, stop_server

pytestmark = pytest.mark.slow
DENIAL = "Alibaba rejected the White House’s claims"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    from assistant.config import load_settings
    from assistant.embeddings import MiniLMEmbeddings

    root = tmp_path_factory.mktemp("llm")
    # The model cache is the user's (assembled once, 1.1 GB): tests share it rather than copy
    # it. The local model runs in a model server of the module's own, stopped at its end.
    settings = load_settings(env={}, index_dir=root / "index", server_dir=new_server_dir())
    embeddings = MiniLMEmbeddings()
    ingest([SAMPLE.parent], settings, embeddings=embeddings)
    yield settings, Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    stop_server(settings.server_dir)


@pytest.fixture(scope="module")
def server(index):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant.providers.serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"model server did not start: {proc.stdout.read()[-2000:]}")
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    proc.wait(timeout=30)


def test_local_provider_answers_with_a_verified_citation_and_refuses(index):
    settings, searcher = index
    answerer = Answerer(searcher, make_provider(settings, searcher, "local"), settings)
    answer = answerer.ask("What did Alibaba deny?")
    assert not answer.refused, answer.raw_text
    assert "White House" in answer.text and any(w in answer.text for w in ("rejected", "denied"))
    assert any(DENIAL in c.passage.text for c in answer.citations)
    assert answerer.ask("What is Alibaba's current stock price?").refused
    # The engine's own timings of both answers are counted: the eval reads the machine's
    # speed from them.
    work = answerer.provider.engine_work()
    assert work.read_tokens > 100 and work.written_tokens > 5
    assert 0 < work.read_s < 120 and 0 < work.written_s < 120


def test_piped_chat_answers_the_follow_up_about_the_pla_with_the_local_model(index):
    # The issue's own check, with the default provider: two questions, one conversation.
    import json
    import os

    settings, _ = index
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "ASSISTANT_INDEX": str(settings.index_dir),
        "ASSISTANT_SERVER_DIR": str(settings.server_dir),
    }
    questions = "What did Alibaba deny?\nDid it say whether it ever had a relationship with the PLA?\n"
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", "--json"],
        input=questions,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    first, second = [json.loads(line) for line in proc.stdout.splitlines()]
    assert first["provider"] == second["provider"] == "local"
    assert not second["refused"], second
    said = second["answer"].lower()
    assert (
        "comment" in said
        and "pla" in said
        and any(w in said for w in ("declin", "avoid", "did not", "refus"))
    ), said
    # cited to a passage that says it declined to comment on a PLA relationship
    cited = [c["text"] for c in second["citations"]]
    assert cited and any("comment" in text and "PLA" in text for text in cited), second["citations"]


def test_the_local_model_stops_reading_a_prompt_for_ctrl_c_and_for_a_waiting_question(index):
    # llama.cpp reads a prompt in batches and reports after each: a request can stop there
    # rather than after the whole prompt (about 10 s for the sample article's 730 tokens).
    import signal
    import threading

    settings, searcher = index
    provider = make_provider(settings, searcher, "local")
    provider.warm_up()
    passages = searcher.store.all_passages()

    def fresh_prompt(tag: str):  # nothing of it cached: it opens with a new line
        messages = provider.prompts.messages("", passages)
        return [{"role": "system", "content": f"Session {tag}.\n" + messages[0]["content"]}, messages[1]]

    started = time.monotonic()
    provider.read_ahead(fresh_prompt("full"))
    full_read = time.monotonic() - started

    class CtrlC(Exception):
        pass

    def press_ctrl_c(*_):
        raise CtrlC

    previous = signal.signal(signal.SIGALRM, press_ctrl_c)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        started = time.monotonic()
        with pytest.raises(CtrlC):
            for _ in provider.stream_messages(fresh_prompt("cancelled")):
                pass
        if provider.server is not None:  # the model server stops reading for a client that left
            while provider.server.status()["active"]:
                time.sleep(0.05)
        cancelled_after = time.monotonic() - started  # includes stopping the model
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert cancelled_after < 0.6 * full_read, (cancelled_after, full_read)

    # a read-ahead gives way to a question asked while it reads
    ended = {}

    def read_ahead():
        provider.read_ahead(fresh_prompt("overtaken"))
        ended["at"] = time.monotonic()

    started = time.monotonic()
    reader = threading.Thread(target=read_ahead)
    reader.start()
    time.sleep(1.0)
    reply = "".join(provider.stream_messages([{"role": "user", "content": "Say OK."}], max_tokens=3))
    reader.join(timeout=60)
    assert reply.strip()
    assert ended["at"] - started < 0.6 * full_read, (ended["at"] - started, full_read)


def test_leaving_the_chat_while_the_model_reads_ahead_exits_cleanly(index):
    # The chat has the model read its prompts ahead for about 25 s after the prompt shows.
    # Leaving meanwhile must stop that first: llama.cpp aborts a process that exits while
    # its engine runs a request on another thread ("FATAL: exception not rethrown", SIGABRT).
    import os

    pexpect = pytest.importorskip("pexpect")
    settings, _ = index
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),  # the model cache is the user's
        "ASSISTANT_SERVER_DIR": str(settings.server_dir),
        "TERM": "xterm",
        "ASSISTANT_INDEX": str(settings.index_dir),
        "ASSISTANT_CHAT_HISTORY_FILE": str(settings.index_dir.parent / "history"),
    }
    child = pexpect.spawn(sys.executable, ["-m", "assistant", "chat"], env=env, encoding="utf-8", timeout=120)
    child.expect_exact("› ")
    time.sleep(8)  # the model is loaded and reading ahead
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None), child.before
    assert "FATAL" not in child.before and "Traceback" not in child.before


def test_openai_provider_streams_from_a_real_server(index, server):
    settings, searcher = index
    remote = settings.model_copy(update={"openai_base_url": server, "openai_model": "local-qwen"})
    answerer = Answerer(searcher, make_provider(remote, searcher, "openai"), remote)
    events = list(answerer.stream("What did Alibaba deny?"))
    pieces = [e.text for e in events if isinstance(e, Piece)]
    answer = events[-1].answer
    assert isinstance(events[-1], Done) and len(pieces) > 3  # really streamed, token by token
    assert answer.raw_text == "".join(pieces)
    assert not answer.refused and any(DENIAL in c.passage.text for c in answer.citations)
    assert answer.provider == "openai" and answer.model == "local-qwen"


def test_openai_provider_connection_error_is_one_line(index):
    settings, searcher = index
    nowhere = settings.model_copy(
        update={"openai_base_url": f"http://127.0.0.1:{free_port()}/v1", "request_timeout_s": 5}
    )
    answerer = Answerer(searcher, make_provider(nowhere, searcher, "openai"), nowhere)
    with pytest.raises(ProviderError, match="cannot connect") as caught:
        answerer.ask("What did Alibaba deny?")
    assert "\n" not in str(caught.value)
