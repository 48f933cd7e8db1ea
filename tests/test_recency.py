"""A question about now reads each story's latest report: the rules, then the chain."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.answer import Answerer
from assistant.ingest import ingest
from assistant.models import Passage
from assistant.recency import as_of_now, asks_about_now, latest_only, same_story, without_now
from assistant.retrieval import Searcher
from assistant.store import PassageStore

from .conftest import HashingEmbeddings, ScriptedProvider, write

BASE = Passage("c", "a", 0, "text", 0, 4, "t", "t.md", "/t.md", "h")


def passage(article: str, title: str, published: str | None, n: int = 0) -> Passage:
    return replace(
        BASE, chunk_id=f"{article}-{n}", article_id=article, position=n, title=title, published=published
    )


FIRST = passage("first", "Marston Viaduct Closed After Cracks Found", "2026-09-03")
FIRST_TOO = passage("first", "Marston Viaduct Closed After Cracks Found", "2026-09-03", 1)
UPDATE = passage("update", "Marston Viaduct to Stay Shut Until November", "2026-09-14")
FERRY = passage("ferry", "Marrow Bay Ferries to Raise Fares", "2026-10-01")
UNDATED = passage("memo", "Leaked Kestrel Motors Memo", None)


@pytest.mark.parametrize(
    "question, about_now",
    [
        ("How many people are evacuated now?", True),
        ("What is the latest estimate of the damage?", True),
        ("Is the bridge still closed?", True),
        ("How many have been rescued so far?", True),
        ("Has the council decided yet?", True),
        ("How many people were evacuated on Wednesday?", False),
        ("How did the number of evacuees change between the reports?", False),
        ("Who knows the area?", False),  # "now" inside a word is not "now"
    ],
)
def test_asks_about_now(question, about_now):
    assert asks_about_now(question) is about_now


@pytest.mark.parametrize(
    "question, asked",
    [
        ("When is the viaduct now expected to reopen?", "When is the viaduct expected to reopen?"),
        ("How many cars are diverted by the latest count?", "How many cars are diverted?"),
        ("What is the latest evacuation figure?", "What is the evacuation figure?"),
        (
            "How many have been rescued so far, according to the latest figures?",
            "How many have been rescued?",
        ),
        ("Is it now?", "Is it now?"),  # nothing would be left to ask
    ],
)
def test_the_writer_reads_the_question_without_its_now(question, asked):
    assert without_now(question) == asked


def test_a_story_is_told_by_headlines_sharing_two_words():
    assert same_story(FIRST, UPDATE)
    assert not same_story(FIRST, FERRY) and not same_story(UPDATE, UNDATED)


def test_an_earlier_report_of_the_same_story_is_left_out():
    given = [FIRST, UNDATED, FERRY, UPDATE, FIRST_TOO]
    assert latest_only(given) == [UNDATED, FERRY, UPDATE]
    assert latest_only([FIRST, FIRST_TOO, UNDATED]) == [FIRST, FIRST_TOO, UNDATED]  # one report: kept


def test_only_a_question_about_now_over_a_superseded_report_changes():
    question = "How many cars are diverted now?"
    assert as_of_now("How many cars were diverted at first?", [FIRST, UPDATE]) == (
        [FIRST, UPDATE],
        "How many cars were diverted at first?",
    )
    assert as_of_now(question, [FIRST, FERRY]) == ([FIRST, FERRY], question)
    assert as_of_now(question, [FIRST, UPDATE]) == ([UPDATE], "How many cars are diverted?")


def dated(title: str, date: str, body: str) -> str:
    return f"---\ntitle: {title}\ndate: {date}\nauthor: Courier\n---\n{body}\n"


@pytest.fixture
def bridge_answerer(tmp_path, settings):
    write(
        tmp_path / "news" / "first.md",
        dated(
            "Marston Viaduct Closed After Cracks",
            "2026-09-03",
            "About 4,000 vehicles a day will be diverted.",
        ),
    )
    write(
        tmp_path / "news" / "update.md",
        dated("Marston Viaduct Stays Shut", "2026-09-14", "About 5,200 vehicles a day are diverted."),
    )
    embeddings = HashingEmbeddings()
    ingest([tmp_path / "news"], settings, embeddings=embeddings)
    searcher = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)

    def make(replies, **changes):
        provider = ScriptedProvider(*replies)
        return Answerer(searcher, provider, settings.model_copy(update=changes)), provider

    make.update_chunks = {p.chunk_id for p in searcher.all_passages() if p.published == "2026-09-14"}

    return make


def test_the_writer_of_a_question_about_now_reads_only_the_update(bridge_answerer):
    answerer, provider = bridge_answerer([["About 5,200 vehicles a day are diverted [1]."]])
    answer = answerer.ask("How many vehicles a day are diverted now?")
    [(asked, chunk_ids)] = provider.calls
    assert asked == "How many vehicles a day are diverted?"
    assert set(chunk_ids) == bridge_answerer.update_chunks
    assert answer.citations[0].passage.published == "2026-09-14" and not answer.refused
    assert answer.question == "How many vehicles a day are diverted now?"  # the user's words shown


def test_other_questions_and_the_setting_off_read_both_reports(bridge_answerer):
    answerer, provider = bridge_answerer([["x [1]."]])
    answerer.ask("How many vehicles a day were diverted at first and later?")
    off, off_provider = bridge_answerer([["x [1]."]], latest_for_now=False)
    off.ask("How many vehicles a day are diverted now?")
    for calls in (provider.calls, off_provider.calls):
        [(_, chunk_ids)] = calls
        assert len(chunk_ids) == 2
