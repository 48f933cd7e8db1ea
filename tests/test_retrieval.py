import json

import pytest

from assistant.errors import AssistantError
from assistant.ingest import ingest
from assistant.retrieval import HybridRetriever, Searcher, make_filter
from assistant.store import PassageStore

from .conftest import SAMPLE, HashingEmbeddings, write

ARTICLES = {
    "turbines.txt": (
        "Wind farm upgrade delayed\n"
        "Engineers at the Kestrel wind farm postponed the upgrade after inspectors flagged part QX-7731 "
        "in three gearboxes. The operator expects the work to resume in spring."
    ),
    "norvik.txt": (
        "Norvik Industries responds to report\n"
        "Norvik Industries rejected the allegations of price fixing in a short statement on Tuesday, "
        "calling the report baseless."
    ),
    "weather.txt": (
        "Storm warning for the coast\n"
        "Forecasters expect heavy rain and gusts of 90 km/h along the coast this weekend."
    ),
    "budget.txt": (
        "City budget approved\n"
        "The council approved a budget of 2.4 billion euros, with more money for schools and buses."
    ),
    "football.txt": (
        "Cup final tickets sold out\nAll 60,000 tickets for the cup final sold out within an hour on Monday."
    ),
}

FEED = [
    {
        "title": "Old tariff story",
        "text": "Tariffs on imported steel went up in spring.",
        "url": "https://n.test/a",
        "published": "2023-03-01",
    },
    {
        "title": "New tariff story",
        "text": "Tariffs on imported steel were cut again.",
        "url": "https://n.test/b",
        "published": "2024-09-15",
    },
]


@pytest.fixture
def searcher(tmp_path, settings, embeddings):
    folder = tmp_path / "corpus"
    for name, text in ARTICLES.items():
        write(folder / name, text)
    write(folder / "alibaba.txt", SAMPLE.read_text(encoding="utf-8"))
    write(folder / "feed.json", json.dumps(FEED))
    ingest([folder], settings, embeddings=embeddings)
    return Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)


def sources(hits):
    return [h.passage.source for h in hits]


def test_lexical_only_query_found_through_bm25(searcher):
    query = "QX-7731"  # a part number: no meaning for the embedding model
    hits = searcher.search(query, 3)
    assert hits[0].passage.source == "turbines.txt"
    assert hits[0].lexical_rank == 1


@pytest.mark.parametrize(
    "query, source",
    [
        ("How much will the municipality spend on education and transport?", "budget.txt"),
        ("Will there be gales by the sea?", "weather.txt"),
    ],
)
def test_paraphrase_only_query_found_through_embeddings(searcher, query, source):
    # No word of the query is in the passage, so BM25 cannot find it ...
    target = _article_id(searcher, source)
    assert not any(cid.startswith(target) for cid, _ in searcher.store.lexical.search(query, 50))
    # ... and the hybrid search still ranks it first, through the dense side.
    hits = searcher.search(query, 3)
    assert hits[0].passage.source == source
    assert hits[0].lexical_rank is None and hits[0].dense_rank == 1


def _article_id(searcher, source):
    return next(r.article_id for r in searcher.store.articles().values() if r.source == source)


def test_what_answering_reads_of_the_index_comes_through_the_searcher(searcher):
    """Answer chain and providers ask the searcher, never the store: term weights, how
    many passages, and the passages of one article in reading order."""
    from assistant.lexical import tokenize

    [rare] = tokenize("gearboxes")  # in one passage
    [common] = tokenize("tariffs")  # in two
    weights = searcher.idf({rare, common, "zzzunseen"})
    assert weights["zzzunseen"] > weights[rare] > weights[common] > 0
    assert searcher.passage_count() == searcher.store.count() == len(searcher.all_passages())
    alibaba = _article_id(searcher, "alibaba.txt")
    passages = searcher.article_passages(alibaba)
    assert len(passages) > 1 and {p.article_id for p in passages} == {alibaba}
    assert [p.start for p in passages] == sorted(p.start for p in passages)


def test_an_index_is_empty_until_something_is_ingested(settings):
    embeddings = HashingEmbeddings()
    before = Searcher(PassageStore.open(settings, embeddings.model_id, create=True), embeddings, settings)
    assert before.is_empty()
    ingest([SAMPLE], settings, embeddings=embeddings)
    after = Searcher(PassageStore.open(settings, embeddings.model_id), embeddings, settings)
    assert not after.is_empty() and after.passage_count() > 0


def test_sample_question_ranks_the_denial_first(searcher):
    hits = searcher.search("what did Alibaba deny", 5)
    assert "Alibaba rejected the White House’s claims" in hits[0].passage.text
    p = hits[0].passage
    text = SAMPLE.read_text(encoding="utf-8").rstrip()
    assert text[p.start : p.end] == p.text


def test_filters_apply_to_both_sides(searcher):
    only = searcher.search("tariffs steel", 5, make_filter(sources=["https://n.test/b"]))
    assert sources(only) == ["https://n.test/b"]
    recent = searcher.search("tariffs steel", 5, make_filter(since="2024-01-01"))
    assert sources(recent) == ["https://n.test/b"]
    old = searcher.search("tariffs steel", 5, make_filter(until="2023-12-31"))
    assert sources(old) == ["https://n.test/a"]
    assert searcher.search("tariffs", 5, make_filter(sources=["nothing.txt"])) == []


def test_bad_filter_and_empty_query(searcher):
    with pytest.raises(AssistantError, match="--since"):
        make_filter(since="last week")
    with pytest.raises(AssistantError, match="empty"):
        searcher.search("   ")


def test_langchain_retriever(searcher):
    docs = HybridRetriever(searcher=searcher, k=2).invoke("cup final tickets")
    assert len(docs) == 2
    assert docs[0].metadata["source"] == "football.txt"
    assert docs[0].page_content.startswith("Cup final tickets")
