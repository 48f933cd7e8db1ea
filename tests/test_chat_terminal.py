"""`assistant chat` driven through a real pseudo-terminal, as a person uses it: ask, a
follow-up, /source 1, Ctrl-C in the middle of an answer, /quit, and the up-arrow history
in the next session. The slow answer comes from a real OpenAI-compatible server on
127.0.0.1 (tests/fault_server.py) that writes a word every 0.4 s."""

from __future__ import annotations

import os
import re
import sys

import pytest

from .conftest import ingest_sample
from .fault_server import FaultServer

# Drives `assistant chat` in a pseudo-terminal: a process per test.
pytestmark = pytest.mark.slow

pexpect = pytest.importorskip("pexpect")

PROMPT = "› "
SLOW_ANSWER = " ".join(["The memo says Alibaba gave the PLA technical support [1]."] * 8)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return ingest_sample(tmp_path_factory.mktemp("pty"))


def spawn(folder, server: FaultServer):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),  # the up-arrow history lives under it
        "TERM": "xterm-256color",
        "ASSISTANT_INDEX": str(folder / "index"),
        "ASSISTANT_CACHE_DIR": str(folder / "cache"),
        "ASSISTANT_PROVIDER": "extractive",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-expected",
    }
    child = pexpect.spawn(
        sys.executable, ["-m", "assistant", "chat"], env=env, cwd=str(folder), encoding="utf-8",
        dimensions=(50, 250), timeout=90,
    )  # fmt: skip
    child.expect_exact("/help lists commands")
    child.expect_exact(PROMPT)
    return child


def ask(child, line: str, *expected: str) -> str:
    """Type ``line``, wait for each expected text in order, then for the next prompt;
    returns what the screen showed, colour codes removed."""
    child.sendline(line)
    shown = ""
    for text in expected:
        child.expect_exact(text)
        shown += child.before + text
    child.expect_exact(PROMPT)
    return ANSI.sub("", shown + child.before)


def test_a_conversation_in_a_terminal(index):
    with FaultServer(answer=SLOW_ANSWER, chunk_delay=0.4) as server:
        child = spawn(index, server)

        screen = ask(
            child, "What did Alibaba deny?", "Alibaba rejected the White House’s claims", "“Alibaba rejected"
        )
        assert (
            "[1]" in screen and "White House Accuses Alibaba of Aiding Chinese Military Operations" in screen
        )

        # the follow-up: its standalone form in a dim line, then the answer about Alibaba
        child.sendline("Did it say whether it ever had a relationship with the PLA?")
        child.expect(r"\x1b\[2m↳ Did Alibaba say whether Alibaba ever had a relationship with the PLA\?")
        child.expect_exact(
            "declined to comment on whether it has ever maintained a relationship with the PLA"
        )
        child.expect_exact(PROMPT)

        # /source 1: the whole passage, the quoted span highlighted
        child.sendline("/source 1")
        child.expect(r"chars \d+–\d+ of the article")
        child.expect_exact("Alibaba’s Response")
        child.expect(r"\x1b\[1;33mHowever, the company declined to comment")
        child.expect_exact(PROMPT)

        # Ctrl-C while the (slow) answer streams: the answer stops, the session stays
        ask(child, "/provider openai", "now answering with: openai")
        child.sendline("Who accused Alibaba?")
        child.expect_exact("The memo says Alibaba")  # streaming has begun
        child.sendintr()
        child.expect_exact("(stopped: the answer was cancelled; ask again or /retry)")
        assert "“" not in child.before  # no footnotes: the half answer was never completed
        child.expect_exact(PROMPT)
        requests_before = len(server.chat_requests)

        ask(child, "/provider extractive", "now answering with: extractive")
        screen = ask(child, "Who is John Moolenaar?", "chair of the House China committee")
        assert len(server.chat_requests) == requests_before  # the extractive provider answered

        # Ctrl-C at the prompt only clears the line
        # (wait for the echo first, as a person would: a Ctrl-C that lands in the same
        # instant as the keys it follows flushes them unread, and CPython's readline only
        # notices a signal that interrupts its wait)
        child.send("half a question")
        child.expect_exact("half a question")
        child.sendintr()
        child.expect_exact(PROMPT)
        child.sendline("/quit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0

        # the next session remembers what was typed: up, up is the question before /quit
        child = spawn(index, server)
        child.send("\x1b[A\x1b[A")
        child.expect_exact("Who is John Moolenaar?")
        child.send("\r")
        child.expect_exact("chair of the House China committee")
        child.expect_exact(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    typed = (index / ".local" / "state" / "assistant" / "chat_history").read_text().splitlines()
    assert typed == [
        "What did Alibaba deny?",
        "Did it say whether it ever had a relationship with the PLA?",
        "/source 1",
        "/provider openai",
        "Who accused Alibaba?",
        "/provider extractive",
        "Who is John Moolenaar?",
        "/quit",
        "Who is John Moolenaar?",
    ]  # the half-typed line cleared by Ctrl-C is not history
