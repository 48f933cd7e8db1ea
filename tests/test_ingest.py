import json
import threading

import pytest

from assistant.errors import AssistantError, EmbeddingMismatch, IndexError_, IndexNotFound
from assistant.ingest import ingest
from assistant.retrieval import Searcher
from assistant.store import PassageStore

from .conftest import SAMPLE, CountingEmbeddings, write


@pytest.fixture
def counting():
    return CountingEmbeddings()


def open_store(settings):
    return PassageStore.open(settings, CountingEmbeddings.model_id)


def corpus(tmp_path):
    folder = tmp_path / "articles"
    write(folder / "alibaba.txt", SAMPLE.read_text(encoding="utf-8"))
    write(
        folder / "port.md",
        "# Port strike ends\n\n"
        "Dock workers in Rotterdam ended a nine-day strike on Friday after a wage deal.\n",
    )
    return folder


def test_first_ingest_then_nothing_to_do(tmp_path, settings, counting):
    folder = corpus(tmp_path)
    first = ingest([folder], settings, embeddings=counting)
    assert (first.added, first.updated, first.unchanged, first.removed) == (2, 0, 0, 0)
    assert first.chunks == counting.embedded == open_store(settings).count() >= 4
    again = ingest([folder], settings, embeddings=counting)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 2, 0)
    assert counting.embedded == first.chunks  # nothing re-embedded
    assert open_store(settings).count() == first.chunks


def test_looking_up_a_folder_of_fifty_thousand_articles(tmp_path, settings, counting):
    # Ingest looks up every loaded file's articles in one call; SQLite caps the variables of
    # one statement (the 100k-passage benchmark failed here with "too many SQL variables").
    folder = corpus(tmp_path)
    ingest([folder], settings, embeddings=counting)
    store = open_store(settings)
    real = sorted(r.path for r in store.articles().values())
    found = store.articles([f"/elsewhere/article-{i}.txt" for i in range(50_000)] + real)
    assert sorted(r.path for r in found.values()) == real and all(r.complete for r in found.values())


def test_changed_article_replaces_its_passages(tmp_path, settings, counting):
    folder = corpus(tmp_path)
    ingest([folder], settings, embeddings=counting)
    store = open_store(settings)
    before = store.articles()
    write(
        folder / "port.md",
        "# Port strike ends\n\nDock workers in Antwerp returned after a pay rise of 4 percent.\n",
    )
    report = ingest([folder], settings, embeddings=counting)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    store = open_store(settings)
    after = store.articles()
    assert set(after) == set(before)
    port_id = next(a for a, r in after.items() if r.source == "port.md")
    assert not set(before[port_id].chunk_ids) & set(after[port_id].chunk_ids)
    assert store.count() == sum(len(r.chunk_ids) for r in after.values())
    searcher = Searcher(store, counting, settings)
    texts = [h.passage.text for h in searcher.search("dock workers strike", 10)]
    assert any("Antwerp" in t for t in texts) and not any("Rotterdam" in t for t in texts)
    assert store.lexical.search("Rotterdam", 5) == []


def test_prune_removes_articles_whose_files_are_gone(tmp_path, settings, counting):
    folder = corpus(tmp_path)
    ingest([folder], settings, embeddings=counting)
    (folder / "port.md").unlink()
    kept = ingest([folder], settings, embeddings=counting)
    assert kept.removed == 0 and len(open_store(settings).articles()) == 2
    pruned = ingest([folder], settings, prune=True, embeddings=counting)
    assert pruned.removed == 1 and pruned.unchanged == 1
    store = open_store(settings)
    assert [r.source for r in store.articles().values()] == ["alibaba.txt"]
    assert store.lexical.search("Rotterdam", 5) == []
    assert len(store.lexical) == store.count()


def test_feed_entry_removed_from_a_feed_is_removed(tmp_path, settings, counting):
    feed = tmp_path / "feed.jsonl"
    items = [
        {
            "title": "Tariffs rise",
            "text": "The ministry raised tariffs on steel by 10 percent.",
            "url": "https://x.test/1",
        },
        {
            "title": "Rail deal",
            "text": "The rail union signed a three-year deal on Monday.",
            "url": "https://x.test/2",
        },
    ]
    feed.write_text("\n".join(json.dumps(i) for i in items))
    assert ingest([feed], settings, embeddings=counting).added == 2
    feed.write_text(json.dumps(items[1]))
    report = ingest([feed], settings, embeddings=counting)
    assert (report.removed, report.unchanged, report.added) == (1, 1, 0)
    assert [r.source for r in open_store(settings).articles().values()] == ["https://x.test/2"]


@pytest.mark.slow
def test_passage_ids_are_stable_across_indexes(tmp_path, settings, counting):
    folder = corpus(tmp_path)
    ingest([folder], settings, embeddings=counting)
    other = settings.model_copy(update={"index_dir": tmp_path / "other"})
    ingest([folder], other, embeddings=counting)
    ids = lambda s: sorted(c for r in open_store(s).articles().values() for c in r.chunk_ids)  # noqa: E731
    assert ids(settings) == ids(other)


def test_other_embedding_model_is_refused(tmp_path, settings, counting):
    ingest([corpus(tmp_path)], settings, embeddings=counting)

    class OtherModel(CountingEmbeddings):
        model_id = "some-other-model"

    with pytest.raises(EmbeddingMismatch, match=CountingEmbeddings.model_id):
        ingest([tmp_path / "articles"], settings, embeddings=OtherModel())
    with pytest.raises(EmbeddingMismatch):
        PassageStore.open(settings, "some-other-model")


def test_lexical_side_rebuilt_when_out_of_step(tmp_path, settings, counting):
    ingest([corpus(tmp_path)], settings, embeddings=counting)
    lexical_dir = settings.index_dir / "lexical"
    meta = json.loads((lexical_dir / "meta.json").read_text())
    meta["revision"] = "stale"
    (lexical_dir / "meta.json").write_text(json.dumps(meta))
    store = open_store(settings)
    assert store.lexical.revision == store.revision != "stale"
    assert store.lexical.search("Rotterdam", 3)
    assert json.loads((lexical_dir / "meta.json").read_text())["revision"] == store.revision


def test_incomplete_article_is_repaired(tmp_path, settings, counting):
    """An ingest killed between Chroma writes leaves an article with missing passages;
    the next ingest notices and re-adds it instead of calling it unchanged."""
    ingest([corpus(tmp_path)], settings, embeddings=counting)
    store = open_store(settings)
    record = next(r for r in store.articles().values() if r.source == "alibaba.txt")
    store._chroma.delete([record.chunk_ids[-1]])
    report = ingest([tmp_path / "articles"], settings, embeddings=counting)
    assert report.updated == 1 and report.unchanged == 1
    assert open_store(settings).articles()[record.article_id].complete


def test_second_writer_is_refused(tmp_path, settings, counting):
    folder = corpus(tmp_path)
    ingest([folder], settings, embeddings=counting)
    store = open_store(settings)
    with store.write_lock():
        with pytest.raises(AssistantError, match="another ingest"):
            ingest([folder], settings, embeddings=counting)
    assert ingest([folder], settings, embeddings=counting).unchanged == 2


def test_missing_and_foreign_index_folders(tmp_path, settings):
    with pytest.raises(IndexNotFound, match="assistant ingest"):
        open_store(settings)
    foreign = tmp_path / "foreign"
    write(foreign / "thesis.docx", "precious")
    with pytest.raises(IndexError_, match="not an assistant index"):
        ingest([corpus(tmp_path)], settings.model_copy(update={"index_dir": foreign}))
    assert (foreign / "thesis.docx").read_text() == "precious"


def test_concurrent_searches_share_one_store(tmp_path, settings, counting):
    ingest([corpus(tmp_path)], settings, embeddings=counting)
    searcher = Searcher(open_store(settings), counting, settings)
    results, errors = [], []

    def run():
        try:
            results.append(searcher.search("dock strike", 1)[0].passage.source)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == ["port.md"] * 4


def test_a_failed_run_keeps_its_finished_batches(tmp_path, settings, counting, monkeypatch):
    """Writes go batch by batch: a run dying part way keeps what it wrote, and the next run
    embeds only the rest, with the lexical side holding the same passages as Chroma."""
    import assistant.ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH_PASSAGES", 1)  # one article per batch
    folder = corpus(tmp_path)

    class DiesOnSecondBatch(CountingEmbeddings):
        def embed_array(self, texts, progress=None):
            if self.embedded:
                raise RuntimeError("killed")
            return super().embed_array(texts, progress)

    dying = DiesOnSecondBatch()
    with pytest.raises(RuntimeError):
        ingest([folder], settings, embeddings=dying)
    store = open_store(settings)
    assert 0 < store.count() == dying.embedded
    assert sorted(store.lexical.meta.ids) == sorted(c for r in store.articles().values() for c in r.chunk_ids)
    report = ingest([folder], settings, embeddings=counting)
    assert (report.added, report.unchanged) == (1, 1) and report.chunks == counting.embedded
    store = open_store(settings)
    assert store.count() == dying.embedded + counting.embedded
    assert sorted(store.lexical.meta.ids) == sorted(c for r in store.articles().values() for c in r.chunk_ids)


def test_lexical_save_cut_short_leaves_the_previous_one(tmp_path, monkeypatch):
    import os

    import assistant.lexical as lexical_module
    from assistant.lexical import LexicalIndex

    ix = LexicalIndex()
    ix.add(["a"], ["Dock workers ended the strike."], ["port.md"], [0])
    ix.save(tmp_path / "lex", "rev-1")
    ix.add(["b"], ["Tariffs on steel rose."], ["steel.md"], [0])
    real_replace = os.replace

    def dies_at_meta(src, dst):
        if str(dst).endswith("meta.json"):
            raise OSError("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(lexical_module.os, "replace", dies_at_meta)
    with pytest.raises(OSError):
        ix.save(tmp_path / "lex", "rev-2")
    monkeypatch.setattr(lexical_module.os, "replace", real_replace)
    saved = LexicalIndex.load(tmp_path / "lex")
    assert saved.revision == "rev-1" and saved.meta.ids == ["a"]
    assert saved.search("strike", 1)[0][0] == "a"
    ix.save(tmp_path / "lex", "rev-3")
    assert LexicalIndex.load(tmp_path / "lex").meta.ids == ["a", "b"]
    assert len(list((tmp_path / "lex").glob("counts-*.npz"))) <= 2  # the replaced matrix is deleted
