"""The shared text layer: one sentence splitter and one list-item rule for every stage."""

import pytest

from assistant.text import BULLET, is_list_item, split_sentences, trim


def test_sentence_splitter_respects_abbreviations():
    text = "Mr. Smith met U.S. officials on Jan. 5 at 10 a.m. in Washington. They talked. J. Doe left."
    spans = [text[a:b] for a, b in split_sentences(text)]
    assert spans == [
        "Mr. Smith met U.S. officials on Jan. 5 at 10 a.m. in Washington.",
        "They talked.",
        "J. Doe left.",
    ]


def test_sentence_splitter_quotes_and_questions():
    text = "“We deny it,” he said. Why now? “Because.” The end"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "“We deny it,” he said.",
        "Why now?",
        "“Because.”",
        "The end",
    ]


@pytest.mark.parametrize(
    "line, item",
    [
        ("- Service credits worth 25%", True),
        ("• Credits for downtime", True),
        ("  12) The third point", True),
        ("3. Refunds", True),
        ("-   ", False),  # a marker with nothing after it
        ("-5% in a quarter", False),  # a minus sign, not a marker
        ("2026. A year", False),  # a year ending a sentence is not a numbered item
        ("Plain sentence.", False),
    ],
)
def test_list_items(line, item):
    assert is_list_item(line) is item


def test_the_bullet_is_what_readers_strip_from_an_item():
    assert BULLET.sub("", "- Credits worth 50% of fees") == "Credits worth 50% of fees"


def test_trim_and_spans_index_the_original_text():
    text = "  One. Two here.  "
    assert trim(text, 0, len(text)) == (2, 16)
    assert [text[a:b] for a, b in split_sentences(text)] == ["One.", "Two here."]
