"""Property-based tests (hypothesis) for the loaders and the chunker.

The citation parser and verifier have theirs in tests/test_citations.py (parse never
raises, verify never raises with or without passages, and shows only the citations a
passage backs); they are not repeated here.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.chunking import ChunkSizes, chunk_article
from assistant.documents import load_file
from assistant.errors import LoaderError
from assistant.models import Article
from assistant.tokens import count_tokens

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------- inputs

# Pieces that make generated text look like what the loaders and the chunker must handle:
# markup, entities, sentence ends, bullets, headings, RTL, invisible and control chars.
HTML_PIECES = [
    "<p>", "</p>", "<div>", "</div>", "<article>", "</article>", "<main>", "<title>", "</title>",
    "<h1>", "</h1>", "<li>", "<ul>", "<br>", "<script>", "</script>", "<style>p{display:none}</style>",
    "<nav>", "<p hidden>", '<p style="display:none">', "<!-- c -->", "<![CDATA[x]]>", "&#0;", "&amp;",
    "&#xD800;", "<svg><title>i</title></svg>", '<meta name="author" content="A">',
    "<time datetime='2024-01-02'>", "<", ">", "</", "\x00", "\r\n",
]  # fmt: skip
TEXT_PIECES = [
    "The council approved the budget.", "Mr. Smith said no!", "U.S. officials", "e.g. this", "...", "?!",
    "\n", "\n\n", "  ", "\t", "- item one", "1. first", "# Heading", "## Sub", "Key Takeaways",
    "أخبار اليوم", "הנמל נפתח", "\u202bRTL\u202c", "\u200b", "\u200d", "\ufeff", "\u00ad", "\u2028",
    "🙂", "阿里巴巴否认指控。", "e\u0301", "a" * 300, "word " * 80, "." * 200, " " * 300, "\x0c",
]  # fmt: skip

any_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=300)
texty = st.lists(st.one_of(st.sampled_from(TEXT_PIECES), any_text), max_size=25).map("".join)
htmly = st.lists(
    st.one_of(st.sampled_from(HTML_PIECES), st.sampled_from(TEXT_PIECES), any_text), max_size=30
).map("".join)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texty)
feed_item = st.fixed_dictionaries(
    {},
    optional={
        "title": json_scalar,
        "text": json_scalar,
        "content": json_scalar,
        "url": json_scalar,
        "published": st.one_of(
            json_scalar, st.sampled_from(["2024-11-05", "Tue, 05 Nov 2024 10:00:00 GMT", "2024/13/45"])
        ),
        "author": json_scalar,
    },
)
feed = st.one_of(
    feed_item,
    st.lists(st.one_of(feed_item, json_scalar), max_size=5),
    st.fixed_dictionaries({"articles": st.lists(feed_item, max_size=5)}),
    st.fixed_dictionaries({"items": st.one_of(json_scalar, st.lists(feed_item, max_size=3))}),
)


encoded = st.tuples(
    st.one_of(texty, htmly), st.sampled_from(["utf-8", "utf-16", "utf-16-le", "cp1252", "latin-1"])
).map(lambda te: te[0].encode(te[1], errors="replace"))
file_bytes = st.one_of(st.binary(max_size=400), encoded)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --------------------------------------------------------------------------- loaders


def check_loaded(path: Path) -> None:
    """Load ``path``: a LoaderError subclass (with a one-line reason naming the file) or
    articles that satisfy what every later stage relies on."""
    try:
        result = load_file(path)
    except LoaderError as exc:
        assert exc.path == str(path)
        assert exc.reason and "\n" not in exc.reason and "\n" not in str(exc)
        return
    assert result.articles
    for problem in result.problems:
        assert problem and "\n" not in problem
    for article in result.articles:
        text = article.text
        assert text.strip() and text == text.rstrip()
        assert "\x00" not in text and "\r" not in text
        text.encode("utf-8")  # no lone surrogates: Chroma and the tokenizer need UTF-8
        assert article.title.strip() and "\n" not in article.title and len(article.title) <= 300
        article.title.encode("utf-8")
        assert "\x00" not in article.title
        assert re.fullmatch(r"[0-9a-f]{16}", article.article_id) and re.fullmatch(
            r"[0-9a-f]{16}", article.content_hash
        )
        if article.published:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.published)


@PROPERTY
@given(data=file_bytes, suffix=st.sampled_from([".txt", ".md", ".html", ".htm", ".json", ".jsonl"]))
def test_any_bytes_load_or_fail_with_a_loader_error(folder, data, suffix):
    path = folder / f"any{suffix}"
    path.write_bytes(data)
    check_loaded(path)


@PROPERTY
@given(html=htmly)
def test_any_html_loads_or_fails_with_a_loader_error(folder, html):
    path = folder / "page.html"
    path.write_text(html, encoding="utf-8")
    check_loaded(path)


@PROPERTY
@given(value=feed, as_lines=st.booleans())
def test_any_json_feed_loads_or_fails_with_a_loader_error(folder, value, as_lines):
    if as_lines:
        records = value if isinstance(value, list) else [value]
        path = folder / "feed.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    else:
        path = folder / "feed.json"
        path.write_text(json.dumps(value), encoding="utf-8")
    check_loaded(path)


@PROPERTY
@given(text=texty)
def test_markdown_with_front_matter_loads_or_fails_with_a_loader_error(folder, text):
    path = folder / "note.md"
    path.write_text(f"---\ntitle: {text[:40]}\nauthor: {text[-40:]}\n---\n{text}", encoding="utf-8")
    check_loaded(path)


# --------------------------------------------------------------------------- chunker


sizes_strategy = st.integers(16, 64).flatmap(
    lambda target: st.builds(
        ChunkSizes,
        target=st.just(target),
        maximum=st.integers(max(32, target), 2 * target + 32),
        minimum=st.integers(1, target),
        overlap=st.integers(0, target // 2),
    )
)


def check_chunks(text: str, sizes: ChunkSizes) -> None:
    article = Article(
        "a1b2c3d4e5f60718", text.split("\n")[0][:50], text, "t.txt", "/t.txt", "0123456789abcdef"
    )
    passages = chunk_article(article, sizes)
    covered = bytearray(len(text))
    for position, p in enumerate(passages):
        assert p.position == position
        assert 0 <= p.start < p.end <= len(text)
        assert text[p.start : p.end] == p.text  # offsets always round-trip
        assert p.tokens == count_tokens(p.text) <= sizes.maximum
        assert not p.text[0].isspace() and not p.text[-1].isspace()
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    # Every visible character is in some passage, and no passage hides inside another.
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))
    assert all(a.start < b.start and a.end < b.end for a, b in zip(passages, passages[1:]))
    assert len({p.chunk_id for p in passages}) == len(passages)
    if not text.strip():
        assert passages == []


@PROPERTY
@given(text=texty, sizes=sizes_strategy)
# Found by this test: a chunk whose text cost more than its units was split, its last part
# being only the overlap the next chunk repeats, so that part sat inside the next passage.
@example(
    text="The council approved the budget.0:0:0\x81\x81\u0802\U00010740\U00015340?\r"
    "The council approved the budget.Mr. Smith said no!",
    sizes=ChunkSizes(target=35, maximum=35, minimum=1, overlap=8),
)
def test_chunk_offsets_round_trip_and_cover_the_text(text, sizes):
    check_chunks(text, sizes)


@PROPERTY
@given(text=st.text(max_size=600))
def test_chunks_of_arbitrary_unicode_with_default_sizes(text):
    check_chunks(text, ChunkSizes())


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    word=st.sampled_from(["a", "ab", ".", "🙂", "阿", "Zx9+/", "e\u0301", " ", "-", "\n", "\u200b"]),
    repeat=st.integers(500, 6000),
    prefix=st.sampled_from(["", "Title\n", "- ", "# H\n", "Mr. "]),
    sizes=sizes_strategy,
)
def test_long_runs_without_breaks_are_cut_within_the_maximum(word, repeat, prefix, sizes):
    check_chunks(prefix + word * repeat, sizes)
