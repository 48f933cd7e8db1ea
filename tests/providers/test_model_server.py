"""The local model server as users meet it: real `assistant` processes, a real server
process on a real Unix socket, the real model. Started on demand and reused by the next
command, shared by two commands at once, stopped when idle, replaced when it was killed,
left stale or runs another configuration, ended with the command that started it while it
still loads, and one line for each failure. Every test has its own server folder, and the
`server_dir` fixture stops whatever runs there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.providers.model_server import ModelServer

from ..conftest import USER_CACHE, write

pytestmark = pytest.mark.slow

# A short article keeps each cold prompt short (about 300 tokens, 3 s of reading on 2 cores).
ARTICLE = """Harbor Bridge reopens after repairs

The Harbor Bridge in Calder Falls reopened to traffic on Monday after three weeks of repairs
to its deck, the city's transport office said. Buses resumed their usual routes the same day.
"""
QUESTION = "When did the Harbor Bridge reopen?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model-server")
    article = write(folder / "articles" / "harbor-bridge.txt", ARTICLE)
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", str(article), "--index", str(folder / "index")],
        check=True, capture_output=True, env={**os.environ, "ASSISTANT_CACHE_DIR": str(folder / "cache")},
    )  # fmt: skip
    return folder


def env_for(folder: Path, server_dir: Path, **settings) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "ASSISTANT_INDEX": str(folder / "index"),
        "ASSISTANT_CACHE_DIR": str(USER_CACHE),  # the assembled model
        "ASSISTANT_SERVER_DIR": str(server_dir),
        "ASSISTANT_MAX_ANSWER_TOKENS": "48",
    }
    env.update({f"ASSISTANT_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def run(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["HOME"],
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def status(env: dict) -> dict:
    return json.loads(run(env, "server", "status", "--json").stdout)


def server_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "model server" in line]


def starts_logged(server_dir: Path) -> int:
    """How many server processes were started in the folder (each logs one line first)."""
    log = (server_dir / "server.log").read_text()
    return sum(line.startswith("model server pid ") for line in log.splitlines())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {timeout} s"
        time.sleep(0.1)


def test_the_first_ask_starts_the_server_the_next_reuses_it_and_server_stop_ends_it(index, server_dir):
    env = env_for(index, server_dir)
    before = run(env, "server", "status")
    assert before.returncode == 1 and "no local model server running" in before.stdout

    first = run(env, "ask", QUESTION, "--json")
    assert first.returncode == 0, first.stderr
    assert not json.loads(first.stdout)["refused"]
    assert server_lines(first.stderr) == []  # starting one is no news
    one = status(env)
    assert one["running"] and one["state"] == "ready" and one["served"] >= 1
    assert (
        oct((server_dir / "llm.sock").stat().st_mode & 0o777) == "0o600"
        and oct(server_dir.stat().st_mode & 0o777) == "0o700"
    )

    second = run(env, "ask", QUESTION, "--json")
    assert second.returncode == 0 and server_lines(second.stderr) == [], second.stderr
    # (Not always the same words: llama.cpp's arithmetic differs slightly for a prompt found in
    # its cache, which can tip a close call at temperature 0.)
    assert not json.loads(second.stdout)["refused"]
    two = status(env)
    assert (
        two["pid"] == one["pid"] and two["served"] > one["served"] and starts_logged(server_dir) == 1
    )  # no second load
    # ... and its prompt cache: the second ask's prompt was found there, all but its last tokens
    read_again = two["prompt_tokens_read"] - one["prompt_tokens_read"]
    assert (
        read_again < 0.1 * one["prompt_tokens_read"]
        and two["prompt_tokens_cached"] > one["prompt_tokens_cached"]
    ), (one, two)
    shown = run(env, "server", "status")
    assert (
        shown.returncode == 0
        and f"(pid {one['pid']})" in shown.stdout
        and "found in the cache" in shown.stdout
    )

    stopped = run(env, "server", "stop")
    assert (
        stopped.returncode == 0
        and stopped.stdout.strip() == f"stopped the local model server (pid {one['pid']})"
    )
    assert not ModelServer(folder=server_dir).alive()
    assert not (server_dir / "llm.sock").exists() and not (server_dir / "server.pid").exists()
    assert run(env, "server", "status").returncode == 1
    assert run(env, "server", "stop").stdout.strip() == "no local model server was running"


def test_two_commands_at_once_start_one_server_and_both_are_answered(index, server_dir):
    env = env_for(index, server_dir)
    questions = (QUESTION, "What did the transport office say about buses?")
    procs = [
        subprocess.Popen([sys.executable, "-m", "assistant", "ask", q, "--json"], env=env, cwd=env["HOME"],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for q in questions
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert server_lines(err) == [], err
        assert json.loads(out)["provider"] == "local"
    assert not json.loads(outputs[0][0])["refused"]
    assert starts_logged(server_dir) == 1
    assert status(env)["served"] >= 2


def test_an_idle_server_stops_by_itself(index, server_dir):
    env = env_for(index, server_dir, server_idle_s=1)
    started = run(env, "server", "start")
    assert started.returncode == 0 and "local model server ready" in started.stdout, started.stderr
    model_server = ModelServer(folder=server_dir)
    wait_for(lambda: not model_server.alive(), 60, "stopped")
    assert not (server_dir / "llm.sock").exists() and not (server_dir / "server.pid").exists()
    assert "stopping: idle for 1 s" in (server_dir / "server.log").read_text()
    assert run(env, "server", "status").returncode == 1


def test_a_killed_server_is_noticed_and_replaced_with_one_line(index, server_dir):
    env = env_for(index, server_dir)
    assert run(env, "server", "start").returncode == 0
    killed = status(env)["pid"]
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: not ModelServer(folder=server_dir).alive(), 10, "dead")

    asked = run(env, "ask", QUESTION, "--json")
    assert asked.returncode == 0, asked.stderr
    assert not json.loads(asked.stdout)["refused"]
    assert server_lines(asked.stderr) == [
        f"note: the local model server (pid {killed}) had ended without cleaning up (killed or crashed): "
        "starting a new one"
    ]
    assert status(env)["pid"] != killed


def test_a_stale_pid_file_is_replaced_and_the_process_it_names_left_alone(index, server_dir):
    # The pid file names a live process that is no server (this test's own): it must not be killed.
    (server_dir / "server.pid").write_text(json.dumps({"pid": os.getpid(), "fingerprint": "old"}))
    (server_dir / "llm.sock").write_text("")  # and a socket path that is no socket
    env = env_for(index, server_dir)
    started = run(env, "server", "start")
    assert started.returncode == 0, started.stderr
    assert server_lines(started.stderr) == [
        f"note: the local model server (pid {os.getpid()}) had ended without cleaning up "
        "(killed or crashed): starting a new one"
    ]
    assert status(env)["pid"] != os.getpid()


def test_a_server_of_another_configuration_is_replaced_with_one_line(index, server_dir):
    one_thread = env_for(index, server_dir, llm_threads=1)
    assert run(one_thread, "server", "start").returncode == 0
    first = status(one_thread)
    assert first["threads"] == 1
    two_threads = env_for(index, server_dir, llm_threads=2)
    started = run(two_threads, "server", "start")
    assert started.returncode == 0, started.stderr
    assert server_lines(started.stderr) == [
        f"note: replacing the local model server (pid {first['pid']}): "
        "it runs qwen2.5-coder-1.5b-instruct-q4_k_m, 1 threads, 4096-token context; "
        "this command needs qwen2.5-coder-1.5b-instruct-q4_k_m, 2 threads, 4096-token context"
    ]
    second = status(two_threads)
    assert second["threads"] == 2 and second["pid"] != first["pid"]
    assert "stopping: replaced" in (server_dir / "server.log").read_text()


def test_start_up_failures_are_one_line_and_leave_nothing_running(index, server_dir, tmp_path):
    def one_error_line(proc) -> str:
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        return lines[0]

    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    line = one_error_line(run(env_for(index, server_dir, local_model_file=broken), "ask", QUESTION))
    assert line.startswith("error: cannot load the local model ") and "broken.gguf" in line
    assert not ModelServer(folder=server_dir).alive() and not (server_dir / "server.pid").exists()

    missing = run(env_for(index, server_dir, local_model_file=tmp_path / "none.gguf"), "server", "start")
    assert "none.gguf does not exist" in one_error_line(missing)

    (server_dir / "llm.sock").mkdir()  # where the socket goes, something that cannot be replaced
    taken = one_error_line(run(env_for(index, server_dir), "server", "start"))
    assert taken.startswith(f"error: the model server cannot listen on {server_dir / 'llm.sock'}"), taken
    assert not ModelServer(folder=server_dir).alive()
    (server_dir / "llm.sock").rmdir()

    deep = tmp_path / ("d" * 120)
    too_deep = one_error_line(run(env_for(index, deep), "server", "start"))
    assert "too deep for a Unix socket" in too_deep and "ASSISTANT_SERVER_DIR" in too_deep


# Starts the model server for a model file that is a FIFO: llama.cpp waits on it forever,
# so the server stays "loading" for as long as the test needs.
_STARTER = """
import faulthandler, signal, sys
from pathlib import Path
faulthandler.register(signal.SIGUSR1)  # the test asks where it is stuck, if it is
# Ctrl-C works as at a terminal even when the tests were started with SIGINT ignored (a
# background job of a non-interactive shell inherits that, and Python keeps it).
signal.signal(signal.SIGINT, signal.default_int_handler)
from assistant.providers.model_server import ModelServer, ServerSpec
ModelServer(ServerSpec(Path(sys.argv[1]), Path(sys.argv[2]), "fifo", 1, 512, 300.0)).wait_ready(timeout=120)
"""


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_a_server_still_loading_ends_with_the_command_that_started_it(tmp_path, server_dir, how):
    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(server_dir), str(fifo)], stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: (server_dir / "server.pid").exists() or starter.poll() is not None, 60, "started")
    assert starter.poll() is None, starter.communicate()[1]
    daemon = json.loads((server_dir / "server.pid").read_text())["pid"]
    time.sleep(0.5)  # loading (blocked on the FIFO)
    assert ModelServer(folder=server_dir).alive() and starter.poll() is None
    starter.send_signal(how)
    try:
        starter.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # say where it hangs
        starter.send_signal(signal.SIGUSR1)
        time.sleep(1)
        starter.kill()
        threads = starter.communicate()[1]
        pytest.fail(f"the command did not end 30 s after {how.name}; its threads:\n{threads}")
    wait_for(lambda: not ModelServer(folder=server_dir).alive(), 10, "gone")
    assert (
        not Path(f"/proc/{daemon}/cmdline").exists()
        or b"model_daemon" not in Path(f"/proc/{daemon}/cmdline").read_bytes()
    )
    if how == signal.SIGINT:  # the command ended it and cleaned up after it
        assert not (server_dir / "server.pid").exists() and not (server_dir / "llm.sock").exists()


def test_with_local_server_off_the_model_runs_inside_the_command(index, server_dir):
    asked = run(env_for(index, server_dir, local_server="false"), "ask", QUESTION, "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["provider"] == "local" and not answer["refused"]
    assert list(server_dir.iterdir()) == []  # the server folder was never used


def test_a_server_killed_mid_answer_is_one_error_line_and_the_next_question_gets_a_new_server(
    index, server_dir
):
    from assistant.config import load_settings
    from assistant.errors import ProviderError
    from assistant.prompts import DEFAULT_PROMPTS_DIR, load_prompts
    from assistant.providers.local import LocalProvider

    settings = load_settings(env={}, server_dir=server_dir, max_answer_tokens=200)
    provider = LocalProvider(settings, load_prompts(DEFAULT_PROMPTS_DIR))
    notes: list[str] = []
    provider.server.notify = notes.append
    provider.warm_up()
    pid = provider.server.status()["pid"]
    count = [{"role": "user", "content": "Count from 1 to 100, one number per line."}]
    stream = provider.stream_messages(count)
    assert next(stream)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ProviderError) as caught:
        for _ in stream:
            pass
    message = str(caught.value)
    assert "\n" not in message and f"the local model server (pid {pid}) stopped while answering" in message
    assert "".join(provider.stream_messages([{"role": "user", "content": "Say OK."}], max_tokens=3)).strip()
    assert notes == [
        f"the local model server (pid {pid}) had ended without cleaning up (killed or crashed): "
        "starting a new one"
    ]
    assert provider.server.status()["pid"] != pid


def test_the_server_gives_the_same_tokens_and_odds_as_the_model_in_process(server_dir):
    from assistant.config import load_settings
    from assistant.prompts import DEFAULT_PROMPTS_DIR, load_prompts
    from assistant.providers.local import LocalProvider

    prompts = load_prompts(DEFAULT_PROMPTS_DIR)
    messages = [{"role": "user", "content": "In one sentence: what does a news editor do?"}]
    written = {}
    for served in (True, False):
        settings = load_settings(env={}, server_dir=server_dir, local_server=served)
        odds: list = []
        text = "".join(
            LocalProvider(settings, prompts).stream_messages(messages, max_tokens=12, alternatives=odds)
        )
        written[served] = (text, odds)
    (text, odds), (text_in_process, odds_in_process) = written[True], written[False]
    assert text == text_in_process and len(odds) == len(odds_in_process) > 3
    for served, local in zip(odds, odds_in_process):
        assert served.token == local.token and served.top.keys() == local.top.keys()
        assert all(abs(served.top[t] - local.top[t]) < 1e-3 for t in local.top), (served, local)


def test_a_client_that_goes_away_stops_the_servers_work(index, server_dir):
    from assistant.config import load_settings
    from assistant.prompts import DEFAULT_PROMPTS_DIR, load_prompts
    from assistant.providers.local import LocalProvider

    settings = load_settings(env={}, server_dir=server_dir, max_answer_tokens=200)
    provider = LocalProvider(settings, load_prompts(DEFAULT_PROMPTS_DIR))
    stream = provider.stream_messages(
        [{"role": "user", "content": "Count from 1 to 150, one number per line."}]
    )
    assert next(stream)
    assert provider.server.status()["active"] == 1
    stream.close()  # what Ctrl-C does to the answer being shown
    wait_for(lambda: provider.server.status()["active"] == 0, 10, "idle")  # a token takes about 0.04 s
