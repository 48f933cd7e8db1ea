"""The chat: the session behind it (follow-ups, commands, cancelled answers), the rewrite of
follow-up questions, and `assistant chat` in a pipe as scripts use it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

import pytest

from assistant.answer import Answerer, Done, Piece
from assistant.chat import ChatCommandError, ChatSession, parse_command, stitch_article
from assistant.chunking import chunk_article
from assistant.documents import load_file
from assistant.errors import QuestionError
from assistant.followup import LLMRewriter, Turn, bounded_history, rewrite_by_rules
from assistant.providers import make_provider
from assistant.tokens import count_tokens

from .conftest import SAMPLE, RecordingChat, ScriptedProvider, cli_env, ingest_sample

DECLINED = "declined to comment on whether it has ever maintained a relationship with the PLA"


def extractive_session(searcher, settings) -> ChatSession:
    return ChatSession(
        Answerer(searcher, make_provider(settings, searcher, "extractive"), settings), settings
    )


def answer_of(events):
    return [e for e in events if isinstance(e, Done)][-1].answer


# -- commands -----------------------------------------------------------------------------


def test_commands_parse_with_aliases_and_numbers():
    assert parse_command("What did Alibaba deny?") is None
    assert parse_command("/source 2").number() == 2
    assert parse_command("/source [3]").number() == 3
    assert parse_command("/exit").name == "quit"
    assert parse_command("/PROVIDER extractive").argument == "extractive"
    with pytest.raises(ChatCommandError, match="unknown command /sauce"):
        parse_command("/sauce 1")
    with pytest.raises(ChatCommandError, match="needs a citation number"):
        parse_command("/open first").number()
    with pytest.raises(ChatCommandError, match="needs a citation number"):
        parse_command("/source 0").number()


# -- a conversation -----------------------------------------------------------------------


def test_follow_up_is_rewritten_from_the_conversation_and_answered_with_the_right_passage(searcher, settings):
    session = extractive_session(searcher, settings)
    first = answer_of(session.ask("What did Alibaba deny?"))
    assert not first.refused and "rejected" in first.text
    second = answer_of(session.ask("Did it say whether it ever had a relationship with the PLA?"))
    assert second.standalone_question.startswith("Did Alibaba say whether Alibaba ever had a relationship")
    assert DECLINED in second.text and DECLINED in second.citations[0].quote
    # the history keeps the standalone questions, so a third follow-up still knows who "it" is
    assert [t.question for t in session.history] == ["What did Alibaba deny?", second.standalone_question]
    assert "[" not in session.history[-1].answer  # markers are not part of what the rewrite reads


def test_source_and_open_show_the_cited_passage_and_its_article(searcher, settings):
    session = extractive_session(searcher, settings)
    with pytest.raises(ChatCommandError, match="no answer yet"):
        session.source(1)
    answer = answer_of(session.ask("Did Alibaba comment on its relationship with the PLA?"))
    article = load_file(SAMPLE).articles[0]
    for citation in answer.citations:
        view = session.source(citation.n)
        assert view.passage.text[view.quote_start : view.quote_end] == citation.quote
        assert article.text[citation.quote_start : citation.quote_end] == citation.quote
        around = session.article_around(citation.n, context_chars=200)
        assert article.text[around.start : around.end] == around.text  # offsets are the article's own
        assert around.start <= view.passage.start and view.passage.end <= around.end
        assert (
            around.text[around.quote_start - around.start : around.quote_end - around.start] == citation.quote
        )
    cites = "only [1]" if len(answer.citations) == 1 else f"[1] to [{len(answer.citations)}]"
    with pytest.raises(
        ChatCommandError, match=rf"no citation \[9\]: the last answer cites {re.escape(cites)}$"
    ):
        session.source(9)
    cited_answer, cited = session.sources()
    assert set(cited.values()) == {c.n for c in answer.citations}
    assert all(
        h.passage.chunk_id in {p.passage.chunk_id for p in cited_answer.passages} for h in answer.passages
    )


def test_open_after_the_article_changed_or_left_the_index_is_one_line_and_the_chat_goes_on(
    tmp_path, settings, embeddings
):
    from assistant.ingest import ingest
    from assistant.retrieval import Searcher
    from assistant.store import PassageStore

    article = tmp_path / "news" / "memo.txt"
    article.parent.mkdir()
    article.write_text(SAMPLE.read_text())
    ingest([article.parent], settings, embeddings=embeddings)
    fresh = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    session = extractive_session(fresh, settings)
    answer = answer_of(session.ask("What did Alibaba deny?"))
    assert session.article_around(1).text  # as cited

    article.write_text(SAMPLE.read_text().replace("Alibaba rejected", "Alibaba firmly rejected"))
    ingest([article.parent], settings, embeddings=embeddings)
    with pytest.raises(
        ChatCommandError, match="has changed in the index since this answer: /retry cites its new text"
    ):
        session.article_around(1)
    assert session.source(1).passage == answer.citations[0].passage  # the passage as it was cited

    article.unlink()
    ingest([article.parent], settings, prune=True, embeddings=embeddings)
    with pytest.raises(ChatCommandError, match=r"no longer in the index \(pruned\?\): /source 1 still shows"):
        session.article_around(1)


def printed_lines(monkeypatch, answer, width: int | None) -> list[str]:
    """What ``ui.print_answer`` shows: on a terminal ``width`` columns wide, or in a pipe (None)."""
    import io

    from rich.console import Console

    from assistant import ui

    console = Console(
        file=io.StringIO(), force_terminal=width is not None, color_system=None, width=width or 80
    )
    monkeypatch.setattr(ui, "_out_console", console)
    ui.print_answer(answer)
    return console.file.getvalue().splitlines()


def test_footnotes_wrap_at_words_on_a_narrow_terminal_and_are_one_line_each_in_a_pipe(
    searcher,
    settings,
    monkeypatch,
):
    answer = answer_of(extractive_session(searcher, settings).ask("What did Alibaba deny?"))
    quotes = [f"“{c.quote}”" for c in answer.citations]
    assert any(len(quote) > 40 for quote in quotes) and not any("\n" in quote for quote in quotes)

    lines = printed_lines(monkeypatch, answer, 40)
    assert all(len(line) <= 40 for line in lines), lines
    quoted = [line for line in lines if line.startswith("    ")]
    assert len(quoted) > len(quotes) and " ".join(line.strip() for line in quoted) == " ".join(
        quotes
    )  # between words

    lines = printed_lines(monkeypatch, answer, None)
    assert lines[0] == answer.text and all(f"    {quote}" in lines for quote in quotes)


def test_a_refusal_lists_the_closest_passages_one_item_each(searcher, settings, monkeypatch):
    refusal = answer_of(extractive_session(searcher, settings).ask("What is the weather in Paris today?"))
    assert refusal.refused and refusal.passages
    for width in (50, None):
        printed = "\n".join(printed_lines(monkeypatch, refusal, width)) + "\n"
        listed = printed.split("Closest passages:\n", 1)[1].splitlines()
        assert sum(line.startswith("- ") for line in listed) == len(refusal.passages)
        assert all(line.startswith(("- ", "  ")) for line in listed)  # items, continuation lines aligned
        if width:
            assert all(len(line) <= width for line in listed)
        else:  # a pipe: one line per passage, its line breaks flattened
            assert len(listed) == len(refusal.passages)


def test_stitched_article_is_the_article_text():
    article = load_file(SAMPLE).articles[0]
    passages = chunk_article(article)
    text, length = stitch_article(passages)
    assert length == len(article.text.rstrip()) or length == len(article.text)
    # everything the passages cover is verbatim; only uncovered blank space may differ
    assert text.split() == article.text[:length].split()


def test_retry_replaces_the_turn_and_reset_forgets_the_conversation(searcher, settings):
    session = extractive_session(searcher, settings)
    with pytest.raises(ChatCommandError, match="nothing to retry"):
        session.retry()
    answer_of(session.ask("What did Alibaba deny?"))
    again = answer_of(session.retry())
    assert again.question == "What did Alibaba deny?" and len(session.history) == 1
    session.reset()
    assert session.history == [] and session.last is None
    plain = answer_of(session.ask("Did it say whether it ever had a relationship with the PLA?"))
    assert plain.standalone_question == plain.question  # nothing to lean on after /reset


def test_a_cancelled_answer_leaves_no_turn_and_stops_the_provider(searcher, settings):
    stopped = threading.Event()

    class Endless(ScriptedProvider):
        def stream(self, question, passages):
            try:
                while True:
                    yield "Alibaba rejected the claims "
            finally:
                stopped.set()

    session = ChatSession(Answerer(searcher, Endless(), settings), settings)
    events = session.ask("What did Alibaba deny?")
    for event in events:
        if isinstance(event, Piece):
            break
    events.close()  # what the terminal does on Ctrl-C
    assert stopped.is_set()
    assert session.history == [] and session.last is None
    assert session.last_question == "What did Alibaba deny?"  # so /retry can ask it again


def test_switching_provider_keeps_the_conversation(searcher, settings, tmp_path):
    session = ChatSession(
        Answerer(searcher, ScriptedProvider(["Alibaba rejected the White House’s claims [1]."]), settings),
        settings,
    )
    answer_of(session.ask("What did Alibaba deny?"))
    assert session.use_provider("extractive") == "extractive"
    answer = answer_of(session.ask("Did it say whether it ever had a relationship with the PLA?"))
    assert answer.provider == "extractive" and "Alibaba" in answer.standalone_question
    with pytest.raises(ChatCommandError, match="unknown provider 'gpt'"):
        session.use_provider("gpt")
    # a provider that cannot run here (no key, no server configured) is one line, and the
    # conversation goes on with the provider it had
    with pytest.raises(ChatCommandError, match=r"needs OPENAI_API_KEY.*\(still answering with extractive\)"):
        session.use_provider("openai")
    assert session.provider_name == "extractive"
    # the same when the provider is made but its model cannot load (a file that is no GGUF)
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    session.settings = settings.model_copy(update={"local_model_file": broken})
    with pytest.raises(
        ChatCommandError,
        match=r"cannot load the local model .*broken\.gguf.*\(still answering with extractive\)",
    ):
        session.use_provider("local")
    assert answer_of(session.ask("Who is John Moolenaar?")).provider == "extractive"


def test_empty_and_oversized_questions_are_refused_with_a_reason(searcher, settings):
    session = extractive_session(searcher, settings)
    with pytest.raises(QuestionError, match="empty question"):
        answer_of(session.ask("   "))
    with pytest.raises(QuestionError, match=r"question too long \(10,000 characters; the limit is 2,000\)"):
        answer_of(session.ask("x" * 10_000))


# -- rewriting follow-ups -----------------------------------------------------------------


HISTORY = [Turn("What did Alibaba deny?", "Alibaba rejected the White House’s claims in a statement to FT.")]


def test_llm_rewrite_is_used_when_it_keeps_the_question_and_adds_only_known_names():
    model = RecordingChat("Rewritten: Did Alibaba say whether it ever worked with the PLA?\n")
    rewrite = LLMRewriter(model, model.prompts, 400)
    assert (
        rewrite("Did it say whether it ever worked with the PLA?", HISTORY)
        == "Did Alibaba say whether it ever worked with the PLA?"
    )
    user = model.sent[0][1]["content"]
    assert "User: What did Alibaba deny?" in user and "Last question: Did it say whether" in user


@pytest.mark.parametrize(
    "reply",
    [
        "Did Alibaba deny any relationship with the PLA?",  # drops "say whether ever": another question
        "Did Mayor X say whether Alibaba ever worked with the PLA?",  # a name from nowhere
        "Alibaba declined to comment on that.",  # an answer, not a question
        "",
    ],
)
def test_an_unfaithful_llm_rewrite_falls_back_to_the_rules(reply):
    model = RecordingChat(reply)
    question = "Did it say whether it ever worked with the PLA?"
    assert LLMRewriter(model, model.prompts, 400)(question, HISTORY) == rewrite_by_rules(question, HISTORY)


def test_a_standalone_question_is_not_sent_for_rewriting():
    model = RecordingChat()
    assert (
        LLMRewriter(model, model.prompts, 400)("Who is John Moolenaar?", HISTORY) == "Who is John Moolenaar?"
    )
    assert model.sent == []


def test_history_sent_for_rewriting_is_bounded_by_tokens():
    long_answer = "The committee discussed the budget at length. " * 200
    turns = [Turn(f"Question number {i} about Alibaba?", long_answer) for i in range(6)] + HISTORY
    kept = bounded_history(turns, 120)
    assert kept[-1] == HISTORY[-1] and len(kept) == 1
    assert sum(count_tokens(t.question) + count_tokens(t.answer) for t in kept) <= 120
    alone = bounded_history([Turn("What did the committee discuss?", long_answer)], 60)
    assert alone[0].question == "What did the committee discuss?" and 0 < count_tokens(alone[0].answer) <= 60
    model = RecordingChat("Did Alibaba say whether it ever worked with the PLA?")
    LLMRewriter(model, model.prompts, 120)("Did it say whether it ever worked with the PLA?", turns)
    assert "Question number 0" not in model.sent[0][1]["content"]


# -- `assistant chat` in a pipe -----------------------------------------------------------


def chat(tmp_path, stdin: str, *args, index=None):
    env = cli_env(tmp_path, index)
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", "chat", *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory):
    return ingest_sample(tmp_path_factory.mktemp("chat-index")) / "index"


@pytest.mark.slow
def test_piped_json_is_one_line_per_question_in_the_ask_shape(tmp_path, sample_index):
    questions = "What did Alibaba deny?\n\nDid it say whether it ever had a relationship with the PLA?\n"
    proc = chat(tmp_path, questions, "--json", "--provider", "extractive", index=sample_index)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 2  # the blank line is not a question
    assert set(lines[1]) == {"question", "answer", "refused", "citations", "provider", "model", "timings"}
    assert lines[1]["question"] == "Did it say whether it ever had a relationship with the PLA?"
    assert DECLINED in lines[1]["answer"]
    assert any(DECLINED in c["quote"] and DECLINED in c["text"] for c in lines[1]["citations"])


STRIKE = (
    "---\n"
    "title: Rotterdam dockworkers end strike\n"
    "source: Example Wire\n"
    "published: 2026-11-20\n"
    "---\n"
    "Dockworkers in Rotterdam ended a nine-day strike on Friday after the port authority agreed to a {rise} "
    "percent pay rise over two years.\n"
)


@pytest.mark.slow
def test_an_open_chat_finds_what_another_terminal_ingests_updates_and_prunes(tmp_path, sample_index):
    """A person keeps the chat open and ingests in another terminal: a new article is
    found at the next question, an updated one is cited in its new text (never the old
    one, which Chroma's in-process cache would still hold), a pruned one is gone."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    news = tmp_path / "news"
    news.mkdir()
    env = {
        **os.environ,
        "ASSISTANT_INDEX": str(index),
        "ASSISTANT_CACHE_DIR": str(sample_index.parent / "cache"),
    }

    def ingest(*extra):
        done = subprocess.run(
            [sys.executable, "-m", "assistant", "ingest", str(news), *extra],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr

    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "--json", "--provider", "extractive"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip

    def ask(question: str) -> dict:
        proc.stdin.write(question + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    question = "What pay rise did the Rotterdam port authority agree to?"
    try:
        assert ask("What did Alibaba deny?")["citations"]  # the chat is open, its index loaded
        (news / "strike.md").write_text(STRIKE.format(rise=6))
        ingest()
        first = ask(question)
        assert [c["title"] for c in first["citations"]] == ["Rotterdam dockworkers end strike"], first
        assert "6 percent" in first["answer"]

        (news / "strike.md").write_text(STRIKE.format(rise=8))
        ingest()
        updated = ask(question)
        assert "8 percent" in updated["answer"] and "6 percent" not in updated["answer"], updated
        assert all("6 percent" not in c["quote"] for c in updated["citations"])

        (news / "strike.md").unlink()
        ingest("--prune")
        gone = ask(question)
        assert gone["refused"] and not gone["citations"], gone
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr.read()


@pytest.mark.slow
def test_piped_text_shows_the_rewrite_the_footnotes_and_commands(tmp_path, sample_index):
    script = (
        "What did Alibaba deny?\nDid it say whether it ever had a relationship with the PLA?\n"
        "/source 1\n/sources\n"
    )
    proc = chat(tmp_path, script, "--provider", "extractive", index=sample_index)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "↳ Did Alibaba say whether Alibaba ever had a relationship with the PLA?" in out
    assert "\x1b[" not in out  # no colour off a terminal
    assert out.count("[1] White House Accuses Alibaba") >= 3  # two footnotes and /source 1
    assert f"quoted: “However, the company {DECLINED}.”" in out
    assert "not cited" in out and "dense #1" in out


@pytest.mark.slow
def test_piped_errors_are_one_line_and_the_conversation_goes_on(tmp_path, sample_index):
    script = "x" * 10_000 + "\n/source 1\n/nonsense\nWhat did Alibaba deny?\n"
    proc = chat(tmp_path, script, "--json", "--provider", "extractive", index=sample_index)
    assert proc.returncode == 1
    errors = proc.stderr.strip().splitlines()
    assert errors == [
        "error: question too long (10,000 characters; the limit is 2,000): ask about one thing at a time",
        "error: no answer yet: ask a question first",
        "error: unknown command /nonsense: /help lists the commands",
    ]
    assert json.loads(proc.stdout)["answer"].startswith("Alibaba rejected")


@pytest.mark.slow
def test_chat_without_an_index_or_with_an_empty_one_says_what_to_do(tmp_path, sample_index):
    proc = chat(tmp_path, "What did Alibaba deny?\n", "--provider", "extractive")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"error: no articles ingested yet in {tmp_path / 'index'}/: run `assistant ingest articles/`"
    )
    # an index whose only article has gone: pruned to nothing
    gone = tmp_path / "gone"
    gone.mkdir()
    article = gone / "a.txt"
    article.write_text(SAMPLE.read_text())
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, "-m", "assistant", "ingest", str(article), "--index", str(tmp_path / "empty")],
        check=True,
        env=env,
        capture_output=True,
    )
    article.unlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "ingest",
            str(gone),
            "--prune",
            "--index",
            str(tmp_path / "empty"),
        ],
        env=env,
        capture_output=True,
    )
    proc = chat(tmp_path, "What did Alibaba deny?\n", "--provider", "extractive", index=tmp_path / "empty")
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == f"error: no articles ingested yet in {tmp_path / 'empty'}/: run `assistant ingest articles/`"
    )


@pytest.mark.slow
def test_chat_with_an_unavailable_provider_is_one_line(tmp_path, sample_index):
    proc = chat(tmp_path, "What did Alibaba deny?\n", "--provider", "openai", index=sample_index)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: provider 'openai' needs OPENAI_API_KEY")
    # switching to it mid-conversation is one line too, and the next question is answered
    proc = chat(
        tmp_path,
        "/provider openai\nWhat did Alibaba deny?\n",
        "--json",
        "--provider",
        "extractive",
        index=sample_index,
    )
    assert proc.stderr.strip().startswith("error: provider 'openai' needs OPENAI_API_KEY")
    assert proc.stderr.strip().endswith("(still answering with extractive)")
    assert json.loads(proc.stdout)["provider"] == "extractive"


def test_a_question_of_invisible_characters_is_empty(searcher, settings):
    session = extractive_session(searcher, settings)
    with pytest.raises(QuestionError, match="empty question"):
        answer_of(session.ask("\u200b\u200d\ufeff \u2066"))
