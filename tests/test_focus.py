"""What a model provider reads of each passage: the question-related part, within budget."""

from __future__ import annotations

from assistant.answer import Answerer
from assistant.focus import focus_passages, units_of
from assistant.ingest import ingest
from assistant.retrieval import Searcher
from assistant.store import PassageStore
from assistant.tokens import count_tokens

from .conftest import SAMPLE, RecordingChat

LIST_PASSAGE = (
    "Intelligence Findings\n"
    "According to the intelligence, Alibaba allegedly provides access to customer data including:\n"
    "- IP addresses\n- WiFi information\n- Payment records\n"
    "The company is also accused of supplying AI services. It has offices in many cities."
)


def test_units_keep_a_list_with_its_introduction():
    units = [LIST_PASSAGE[a:b] for a, b in units_of(LIST_PASSAGE)]
    assert units[0] == "Intelligence Findings"
    assert units[1].endswith("- Payment records") and units[1].startswith("According to")
    assert units[2:] == [
        "The company is also accused of supplying AI services.",
        "It has offices in many cities.",
    ]


def store_and_searcher(settings, embeddings):
    ingest([SAMPLE], settings, embeddings=embeddings)
    return Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)


def test_focus_is_a_true_sub_span_within_budget_around_the_answer(settings, embeddings):
    searcher = store_and_searcher(settings, embeddings)
    question = "Did Alibaba comment on whether it has a relationship with the PLA?"
    passages = [h.passage for h in searcher.search(question, 3)]
    article = SAMPLE.read_text(encoding="utf-8")
    focused = focus_passages(question, passages, searcher.embed, 70)
    assert [p.chunk_id for p in focused] == [p.chunk_id for p in passages]
    for whole, part in zip(passages, focused):
        assert whole.start <= part.start < part.end <= whole.end
        assert part.text == whole.text[part.start - whole.start : part.end - whole.start]
        assert part.text == article[part.start : part.end]
        assert (
            count_tokens(part.text) <= 70 + 10 or part.text.count(".") <= 1
        )  # one over-long sentence may exceed
    assert any("declined to comment" in p.text for p in focused)
    assert sum(count_tokens(p.text) for p in focused) < 0.7 * sum(count_tokens(p.text) for p in passages)
    assert focus_passages(question, passages, searcher.embed, 0) == passages
    assert focus_passages(question, passages, searcher.embed, 10_000) == passages  # already within budget


def test_the_model_reads_focused_passages_but_citations_are_whole_passages(settings, embeddings):
    searcher = store_and_searcher(settings, embeddings)
    settings = settings.model_copy(update={"passage_focus_tokens": 70})
    provider = RecordingChat(
        "Alibaba declined to comment on whether it has ever maintained a relationship with the PLA [1]."
    )
    answer = Answerer(searcher, provider, settings).ask(
        "Did Alibaba say whether it ever had a relationship with the PLA?"
    )
    shown = provider.seen[0]
    assert all(len(s.text) < len(h.passage.text) for s, h in zip(shown, answer.passages))
    assert not answer.refused and answer.citations
    cited = answer.citations[0].passage
    assert cited in [h.passage for h in answer.passages]  # the whole passage, for /source and the footnote
    assert "declined to comment" in answer.citations[0].quote
