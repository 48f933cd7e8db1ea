from assistant.lexical import LexicalIndex, tokenize


def build() -> LexicalIndex:
    ix = LexicalIndex()
    ix.add(
        ["a", "b", "c", "d"],
        [
            "Alibaba rejected the White House claims in a statement.",
            "The weather in Hangzhou was sunny and warm.",
            "Alibaba declined to comment on the PLA relationship.",
            "Lawmakers urged the SEC to delist 25 Chinese companies.",
        ],
        ["one.txt", "two.txt", "one.txt", "three.txt"],
        [20240501, 20240601, 0, 20230101],
    )
    return ix


def test_tokenize_stems_and_drops_stopwords():
    assert tokenize("The companies denied it; Alibaba denies claims") == [
        "company",
        "deny",
        "alibaba",
        "deny",
        "claim",
    ]


def test_ranking_and_missing_terms():
    ix = build()
    assert [i for i, _ in ix.search("rejected claims", 3)] == ["a"]
    assert ix.search("delisting companies", 1)[0][0] == "d"
    assert ix.search("zebra", 5) == []
    ranked = ix.search("alibaba pla", 4)
    assert ranked[0][0] == "c" and {i for i, _ in ranked} == {"a", "c"}


def test_remove_replace_and_persist(tmp_path):
    ix = build()
    ix.remove({"a"})
    assert ix.search("rejected", 3) == []
    ix.add(["c"], ["Replaced text about tariffs."], ["one.txt"], [0])
    assert len(ix) == 3
    assert ix.search("tariffs", 3)[0][0] == "c"
    assert ix.search("declined", 3) == []
    ix.save(tmp_path / "lex", "rev-1")
    again = LexicalIndex.load(tmp_path / "lex")
    assert again.revision == "rev-1"
    assert again.search("tariffs", 3) == ix.search("tariffs", 3)
    assert LexicalIndex.load(tmp_path / "nothing") is None
    (tmp_path / "lex" / "meta.json").write_text("{broken")
    assert LexicalIndex.load(tmp_path / "lex") is None


def test_filters():
    ix = build()
    only_one = ix.mask({"one.txt"})
    assert {i for i, _ in ix.search("alibaba", 5, only_one)} == {"a", "c"}
    assert [i for i, _ in ix.search("alibaba weather companies", 5, ix.mask(published_from=20240515))] == [
        "b"
    ]
    dated_until = ix.mask(published_to=20240530)
    assert {i for i, _ in ix.search("alibaba companies", 5, dated_until)} == {
        "a",
        "d",
    }  # undated 'c' excluded
