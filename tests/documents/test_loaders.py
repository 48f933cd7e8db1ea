"""Tests for assistant.documents: every loader on real files written to tmp_path."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from assistant.documents import SUPPORTED_SUFFIXES, LoadResult, discover, load_file
from assistant.documents.defences import without_injections
from assistant.errors import BinaryFile, EmptyArticle, LoaderError, MalformedFile, UnsupportedFile
from assistant.models import Article

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "articles" / "alibaba-pla-white-house-memo.txt"


def write(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def load_one(path: Path) -> Article:
    result = load_file(path)
    assert isinstance(result, LoadResult)
    assert len(result.articles) == 1, result
    assert result.problems == []
    return result.articles[0]


def sha16(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def normalised(text: str) -> str:
    """The documented normalisation, restated independently of the module."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").rstrip()


# --------------------------------------------------------------------------- public surface


def test_supported_suffixes_are_exactly_the_documented_ones():
    assert SUPPORTED_SUFFIXES == frozenset(
        {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom", ".pdf"}
    )


def test_all_lists_the_public_names():
    import assistant.documents as documents

    assert sorted(documents.__all__) == sorted(["SUPPORTED_SUFFIXES", "LoadResult", "load_file", "discover"])


# --------------------------------------------------------------------------- plain text


def test_txt_title_is_first_non_empty_line_and_text_is_whole_file(tmp_path):
    path = write(
        tmp_path, "story.txt", "\ufeff\n   \n  Budget Passes Senate  \r\nThe vote was 51-49.\r\rMore.\n\n  \t"
    )
    article = load_one(path)
    assert article.title == "Budget Passes Senate"
    # BOM gone, CRLF and CR become LF, trailing whitespace gone, the title line kept.
    assert article.text == "\n   \n  Budget Passes Senate  \nThe vote was 51-49.\n\nMore."
    assert article.source == "story.txt"
    assert article.path == str(path.resolve())
    assert (article.url, article.published, article.author) == (None, None, None)


def test_real_sample_article_loads(tmp_path):
    article = load_one(SAMPLE)
    assert article.title == "White House Accuses Alibaba of Aiding Chinese Military Operations Against US"
    assert "Alibaba rejected the White House’s claims" in article.text
    assert article.text == normalised(SAMPLE.read_text(encoding="utf-8"))
    assert article.source == SAMPLE.name


# --------------------------------------------------------------------------- markdown


def test_md_title_is_first_level_one_heading(tmp_path):
    content = (
        "Intro line before the heading\n\n```python\n# not a heading, a comment\n```\n\n"
        "## Sub\n\n# Main  Heading #\n\nBody.\n"
    )
    article = load_one(write(tmp_path, "note.md", content))
    assert article.title == "Main Heading"
    assert article.text == content.rstrip()  # markdown text is the whole file


def test_md_without_heading_uses_first_non_empty_line(tmp_path):
    article = load_one(write(tmp_path, "plain.markdown", "\n\nJust a first line\nand more\n"))
    assert article.title == "Just a first line"


def test_md_front_matter_gives_metadata_and_is_removed_from_text(tmp_path):
    content = (
        "---\n"
        'title: "Quoted Title"\n'
        "date: 2024-11-05T08:30:00Z\n"
        "url: 'https://news.example/story'\n"
        "author: Ann Lee\n"
        "---\n"
        "\n"
        "# Heading In Body\n"
        "\n"
        "Body text.\n"
    )
    article = load_one(write(tmp_path, "fm.md", content))
    assert article.title == "Quoted Title"
    assert article.published == "2024-11-05"
    assert article.url == "https://news.example/story"
    assert article.source == "https://news.example/story"
    assert article.author == "Ann Lee"
    assert article.text == "# Heading In Body\n\nBody text."
    assert "---" not in article.text


def test_md_front_matter_without_title_falls_back_to_heading(tmp_path):
    article = load_one(
        write(tmp_path, "fm.md", "---\npublished: Tue, 05 Nov 2024 10:00:00 GMT\n---\n# Real Title\ntext\n")
    )
    assert article.title == "Real Title"
    assert article.published == "2024-11-05"
    assert article.source == "fm.md"


def test_md_leading_rule_that_is_not_front_matter_is_kept(tmp_path):
    content = "---\nA paragraph after a rule.\n"
    article = load_one(write(tmp_path, "rule.md", content))
    assert article.text == content.rstrip()


def test_md_with_only_front_matter_is_empty(tmp_path):
    with pytest.raises(EmptyArticle):
        load_file(write(tmp_path, "fm.md", "---\ntitle: Nothing Else\n---\n\n"))


# --------------------------------------------------------------------------- HTML

PAGE = """<!DOCTYPE html>
<html>
<head>
  <title>Page  Title | Daily</title>
  <link rel="canonical" href="https://daily.example/page">
  <meta property="og:url" content="https://daily.example/og">
  <meta property="article:published_time" content="2024-11-05T22:15:00+01:00">
  <meta name="author" content="Sam Writer">
  <style>.secret { color: red }</style>
  <script>var leaked = "script text";</script>
</head>
<body>
  <nav><a href="/">Home</a> | <a href="/news">News</a></nav>
  <header><div>Site banner</div></header>
  <main>
    <h1>Headline   Here</h1>
    <p>First &nbsp; paragraph<br>continues&#8203; here.</p>
    <!-- an editor's comment -->
    <div hidden>Hidden by attribute</div>
    <p aria-hidden="true">Hidden from screen readers</p>
    <p style="color: red; display : none">Hidden by style</p>
    <span style="visibility:hidden">Invisible span</span>
    <h2>Details</h2>
    <ul><li>Point one</li><li>Point <b>two</b></li></ul>
    <blockquote>A quote.</blockquote>
    <table><tr><th>Name</th><td>Value</td></tr></table>
    <div>Bare div text</div>
    <noscript>Enable JS</noscript>
    <form><label>Subscribe</label><input name="e"></form>
  </main>
  <aside>Related stories</aside>
  <footer>Copyright 2024</footer>
</body>
</html>
"""


def test_html_blocks_become_lines_and_furniture_is_dropped(tmp_path):
    article = load_one(write(tmp_path, "page.html", PAGE))
    # trafilatura's text: a <br> breaks the line, list items are bulleted, a table is
    # written row by row.
    assert article.text.split("\n") == [
        "Headline Here",
        "First paragraph",
        "continues here.",
        "Details",
        "- Point one",
        "- Point two",
        "A quote.",
        "| Name | Value |",
        "|---|---|",
        "Bare div text",
    ]


@pytest.mark.parametrize(
    "unwanted",
    [
        "script text", ".secret", "Home", "Site banner", "Related stories", "Copyright",
        "Enable JS", "Subscribe", "editor's comment", "Hidden by attribute",
        "Hidden from screen readers", "Hidden by style", "Invisible span", "\u200b", "Page Title",
    ],
)  # fmt: skip
def test_html_drops_noise_hidden_elements_and_comments(tmp_path, unwanted):
    article = load_one(write(tmp_path, "page.html", PAGE))
    assert unwanted not in article.text


def test_html_metadata(tmp_path):
    article = load_one(write(tmp_path, "page.htm", PAGE))
    # trafilatura's metadata: the page's one <h1> before a <title> carrying the site's
    # name, og:url before the canonical link, the site named after the host.
    assert article.title == "Headline Here"
    assert article.url == "https://daily.example/og"
    assert article.source == "https://daily.example/og"
    assert article.published == "2024-11-05"  # the date as written, not shifted to UTC
    assert article.author == "Sam Writer"
    assert article.site == "daily.example"


def test_html_falls_back_to_og_url_meta_date_and_h1_title(tmp_path):
    page = """<html><head><meta property="og:url" content="https://og.example/x">
    <meta name="date" content="2023-02-01"></head>
    <body><article><h1>The H1 Title</h1><p>Body.</p></article></body></html>"""
    article = load_one(write(tmp_path, "p.html", page))
    assert article.title == "The H1 Title"
    assert article.url == "https://og.example/x"
    assert article.published == "2023-02-01"
    assert article.text == "The H1 Title\nBody."


def test_html_time_element_date_and_first_line_title(tmp_path):
    page = (
        "<body><p>Opening line of text.</p>"
        '<p>Posted <time datetime="2022-07-09T10:00:00Z">July 9</time></p></body>'
    )
    article = load_one(write(tmp_path, "p.html", page))
    assert article.published == "2022-07-09"
    assert article.title == "Opening line of text."
    assert article.url is None and article.source == "p.html"


def test_html_keeps_the_article_and_leaves_out_the_page_around_it(tmp_path):
    story = [
        "The harbour reopened on Monday after three weeks of repairs to the northern quay, "
        "the port authority said.",
        "Ferries to the islands resumed at noon, and the first cargo ship docked in the evening.",
        "Repairs cost 4.2 million euros, less than the 5 million the council had set aside in March.",
    ]
    related = "".join(
        f'<li><a href="/n/{n}">Related story number {n} about the city</a></li>' for n in range(8)
    )
    page = (
        "<html><head><title>Harbour reopens</title></head><body>"
        '<div class="cookie">We use cookies to improve your experience. Accept all cookies?</div>'
        '<div class="menu"><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></div>'
        f"<article><h1>Harbour reopens after repairs</h1>{''.join(f'<p>{s}</p>' for s in story)}</article>"
        f'<div class="related"><h3>Most read</h3><ul>{related}</ul></div>'
        '<div class="ad">Advertisement: buy one ferry ticket, get one free</div></body></html>'
    )
    text = load_one(write(tmp_path, "p.html", page)).text
    assert all(sentence in text for sentence in story)
    for furniture in ("cookies", "Home", "Most read", "Related story", "Advertisement"):
        assert furniture not in text


def test_html_malformed_and_unclosed_tags_still_load(tmp_path):
    page = "<html><head><title>Broken<body><p>Unclosed <b>bold<div>More text<p>Another & last"
    article = load_one(write(tmp_path, "broken.html", page))
    assert article.title == "Broken"
    # every word kept, in order (where lines break in such markup is trafilatura's call)
    assert article.text.split() == "Unclosed bold More text Another & last".split()


def test_html_deeply_nested_unclosed_tags_load(tmp_path):
    article = load_one(write(tmp_path, "deep.html", "<div>" * 5000 + "deep text"))
    assert article.text == "deep text"


def test_html_without_text_is_empty(tmp_path):
    path = write(
        tmp_path,
        "empty.html",
        "<html><head><title>T</title><script>x()</script></head><body><nav>Menu</nav></body></html>",
    )
    with pytest.raises(EmptyArticle) as caught:
        load_file(path)
    assert "no text after HTML cleaning" in str(caught.value)


# --------------------------------------------------------------------------- JSON feeds


def test_json_list_of_articles(tmp_path):
    items = [
        {"title": "One", "text": "First body.\r\nLine two.  ", "url": "https://a.example/1", "author": "A"},
        {"title": "Two", "content": "Second body.", "date": "2024-01-02"},
    ]
    result = load_file(write(tmp_path, "feed.json", json.dumps(items)))
    first, second = result.articles
    assert result.problems == []
    assert (first.title, first.text, first.url, first.source, first.author) == (
        "One", "First body.\nLine two.", "https://a.example/1", "https://a.example/1", "A",
    )  # fmt: skip
    assert (second.title, second.text, second.source, second.published) == (
        "Two",
        "Second body.",
        "feed.json",
        "2024-01-02",
    )
    assert not first.text.startswith("One")  # the title is not prepended to feed text
    assert first.path == second.path == str((tmp_path / "feed.json").resolve())


@pytest.mark.parametrize("key", ["articles", "items"])
def test_json_object_with_article_list(tmp_path, key):
    data = {"feed": "x", key: [{"title": "T", "text": "Body"}]}
    article = load_one(write(tmp_path, "feed.json", json.dumps(data)))
    assert (article.title, article.text) == ("T", "Body")


def test_json_single_article_object(tmp_path):
    article = load_one(write(tmp_path, "one.json", json.dumps({"title": "Solo", "text": "Only one."})))
    assert (article.title, article.text) == ("Solo", "Only one.")


def test_json_missing_title_uses_first_line_of_text(tmp_path):
    article = load_one(write(tmp_path, "one.json", json.dumps({"text": "\n  First line here\nsecond"})))
    assert article.title == "First line here"


def test_json_item_missing_text_is_a_problem_others_load(tmp_path):
    items = [
        {"title": "Good", "text": "ok"},
        {"title": "No body"},
        {"title": "Blank", "text": "   "},
        "not an object",
    ]
    result = load_file(write(tmp_path, "feed.json", json.dumps(items)))
    assert [a.title for a in result.articles] == ["Good"]
    assert result.problems == [
        "item 2: no 'text' or 'content'",
        "item 3: no 'text' or 'content'",
        "item 4: not a JSON object",
    ]


def test_json_feed_without_usable_article_is_malformed(tmp_path):
    with pytest.raises(MalformedFile) as caught:
        load_file(write(tmp_path, "feed.json", json.dumps([{"title": "x"}])))
    assert caught.value.reason == "item 1: no 'text' or 'content'"
    with pytest.raises(MalformedFile) as caught:
        load_file(write(tmp_path, "empty.json", "[]"))
    assert caught.value.reason == "no articles in feed"


def test_json_lone_surrogate_escape_becomes_replacement_character(tmp_path):
    article = load_one(write(tmp_path, "s.json", '{"title": "T\\ud800", "text": "a\\udc00b"}'))
    assert (article.title, article.text) == ("T\ufffd", "a\ufffdb")
    article.text.encode("utf-8")  # later stages need encodable text


@pytest.mark.parametrize("content", ['"just a string"', "42", '{"articles": "nope"}'])
def test_json_of_wrong_shape_is_malformed(tmp_path, content):
    with pytest.raises(MalformedFile):
        load_file(write(tmp_path, "odd.json", content))


def test_jsonl_bad_line_is_reported_and_rest_load(tmp_path):
    lines = [
        json.dumps({"title": "A", "text": "alpha"}),
        "",
        "{not json",
        json.dumps({"title": "B", "text": "beta"}),
        json.dumps({"title": "C"}),
    ]
    result = load_file(write(tmp_path, "feed.jsonl", "\n".join(lines) + "\n"))
    assert [a.title for a in result.articles] == ["A", "B"]
    assert len(result.problems) == 2
    assert result.problems[0].startswith("line 3: invalid JSON (")
    assert result.problems[1] == "line 5: no 'text' or 'content'"


def test_jsonl_with_only_bad_lines_is_malformed(tmp_path):
    with pytest.raises(MalformedFile) as caught:
        load_file(write(tmp_path, "feed.jsonl", "nope\n"))
    assert caught.value.reason.startswith("line 1: invalid JSON")


def test_malformed_json_reports_position(tmp_path):
    path = write(tmp_path, "bad.json", '[\n  {"title": "x",\n  ]')
    with pytest.raises(MalformedFile) as caught:
        load_file(path)
    assert caught.value.reason.startswith("invalid JSON at line 3 column")
    assert str(caught.value).startswith(str(path) + ": ")
    assert "\n" not in str(caught.value)


def test_feed_ids_use_url_or_title_and_number_repeats(tmp_path):
    items = [
        {"title": "Same", "text": "one", "url": "https://u.example/a"},
        {"title": "Same", "text": "two"},
        {"title": "Same", "text": "three"},
        {"title": "Other", "text": "four", "url": "https://u.example/a"},
    ]
    path = write(tmp_path, "feed.json", json.dumps(items))
    base = str(path.resolve())
    ids = [a.article_id for a in load_file(path).articles]
    assert ids == [
        sha16(base + "#https://u.example/a"),
        sha16(base + "#Same"),
        sha16(base + "#Same#2"),
        sha16(base + "#https://u.example/a#2"),
    ]
    assert ids == [a.article_id for a in load_file(path).articles]  # stable across loads


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-11-05T10:00:00Z", "2024-11-05"),
        ("2024-11-05T23:30:00.123+02:00", "2024-11-05"),
        ("Tue, 05 Nov 2024 10:00:00 GMT", "2024-11-05"),
        ("Tue, 05 Nov 2024 10:00:00 +0000", "2024-11-05"),
        ("2024-11-05", "2024-11-05"),
        ("2024-11-05 10:00 UTC", "2024-11-05"),
        ("garbage", None),
        ("2024-13-45", None),
        ("", None),
        (20241105, None),
    ],
)
def test_published_date_normalisation(tmp_path, raw, expected):
    path = write(tmp_path, "d.json", json.dumps({"title": "t", "text": "body", "published": raw}))
    assert load_one(path).published == expected  # a bad date never fails the article


# --------------------------------------------------------------------------- decoding


def test_cp1252_curly_quotes_are_decoded(tmp_path):
    content = "Quote Test\n“Hello,” she said — it’s fine."
    article = load_one(write(tmp_path, "win.txt", content, encoding="cp1252"))
    assert article.text == content


def test_latin1_accents_are_decoded(tmp_path):
    article = load_one(write(tmp_path, "latin.txt", "Café au lait\nà la carte, señor", encoding="latin-1"))
    assert article.title == "Café au lait"
    assert article.text == "Café au lait\nà la carte, señor"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom_is_decoded(tmp_path, encoding):
    raw = ("\ufeff" if encoding.endswith("be") else "") + "Title Ünïcode\r\nBody text."
    article = load_one(write(tmp_path, "wide.txt", raw, encoding=encoding))
    assert article.text == "Title Ünïcode\nBody text."


def test_utf16_html_is_decoded(tmp_path):
    article = load_one(
        write(tmp_path, "wide.html", "<title>Wide</title><p>Wide page.</p>", encoding="utf-16")
    )
    assert (article.title, article.text) == ("Wide", "Wide page.")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        b"\x01\x02\x03\x04 text with many control bytes \x05\x06\x07\x08" * 20,
    ],
)
@pytest.mark.parametrize("name", ["image.txt", "data.json", "page.html"])
def test_binary_content_is_refused(tmp_path, data, name):
    with pytest.raises(BinaryFile) as caught:
        load_file(write(tmp_path, name, data))
    assert caught.value.reason == "binary file, not text"


def test_nul_byte_anywhere_makes_a_file_binary(tmp_path):
    with pytest.raises(BinaryFile):
        load_file(write(tmp_path, "late.txt", "Title\n" + "words " * 5000 + "\x00tail"))


def test_utf16_file_holding_binary_is_refused(tmp_path):
    with pytest.raises(BinaryFile):
        load_file(write(tmp_path, "wide.txt", "\x00\x01\x02" * 50, encoding="utf-16"))


def test_a_few_control_characters_do_not_make_text_binary(tmp_path):
    content = "Title\n" + "plain words " * 50 + "\x1b[0m"
    assert load_one(write(tmp_path, "log.txt", content)).text == content


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  "])
@pytest.mark.parametrize("name", ["e.txt", "e.md", "e.html", "e.json", "e.jsonl"])
def test_empty_and_whitespace_files_are_empty_articles(tmp_path, content, name):
    with pytest.raises(EmptyArticle):
        load_file(write(tmp_path, name, content))


@pytest.mark.parametrize("name", ["report.docx", "Makefile", "photo.PNG"])
def test_unsupported_extension(tmp_path, name):
    path = write(tmp_path, name, "some text")
    with pytest.raises(UnsupportedFile) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: unsupported file type")
    assert "(supported: .txt, .md, .markdown, .html, .htm, .json, .jsonl, .xml, .rss, .atom, .pdf)" in message


def test_suffix_match_ignores_case(tmp_path):
    assert load_one(write(tmp_path, "LOUD.TXT", "Loud\nbody")).title == "Loud"


def test_missing_file_is_a_loader_error_with_strerror(tmp_path):
    with pytest.raises(LoaderError) as caught:
        load_file(tmp_path / "gone.txt")
    assert type(caught.value) is LoaderError
    assert caught.value.reason == "No such file or directory"


def test_directory_is_a_loader_error(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(LoaderError) as caught:
        load_file(tmp_path / "folder.txt")
    assert caught.value.reason == "is a directory"


# --------------------------------------------------------------------------- identity and hashing


def test_article_id_is_stable_and_differs_between_files(tmp_path):
    one = write(tmp_path, "one.txt", "Same\ncontent")
    two = write(tmp_path, "two.txt", "Same\ncontent")
    first, again, other = load_one(one), load_one(one), load_one(two)
    assert first == again
    assert first.article_id == sha16(str(one.resolve()))
    assert other.article_id != first.article_id
    assert other.content_hash == first.content_hash  # same content, different file


def test_content_hash_changes_with_text_but_id_does_not(tmp_path):
    path = write(tmp_path, "a.txt", "Title\nOriginal body")
    before = load_one(path)
    assert before.content_hash == sha16("\x1f".join(["Title", "Title\nOriginal body", "", "", ""]))
    write(tmp_path, "a.txt", "Title\nEdited body")
    after = load_one(path)
    assert after.article_id == before.article_id
    assert after.content_hash != before.content_hash


def test_content_hash_covers_metadata(tmp_path):
    item = {
        "title": "T",
        "text": "body",
        "url": "https://x.example",
        "published": "2024-01-01",
        "author": "Al",
    }
    base = load_one(write(tmp_path, "f.json", json.dumps(item))).content_hash
    assert base == sha16("\x1f".join(["T", "body", "https://x.example", "2024-01-01", "Al"]))
    changed = load_one(write(tmp_path, "f.json", json.dumps({**item, "author": "Bo"}))).content_hash
    assert changed != base


# --------------------------------------------------------------------------- discover


def test_discover_walks_folders_sorted_skips_hidden_and_reports_unsupported(tmp_path):
    root = tmp_path / "corpus"
    for rel in ["b.txt", "a.md", "sub/z.html", "sub/deeper/c.jsonl", "sub/notes.docx", "img.png",
                "feeds/news.rss", ".hidden.txt", ".git/HEAD.txt", "sub/.cache/x.json"]:  # fmt: skip
        write(root, rel, "x")
    files, problems = discover([root])
    assert [(Path(p).name, r.split(" (")[0]) for p, r in problems] == [
        ("img.png", "unsupported file type '.png'"),
        ("notes.docx", "unsupported file type '.docx'"),
    ]
    assert files == [
        root / "a.md", root / "b.txt", root / "feeds" / "news.rss", root / "sub" / "deeper" / "c.jsonl",
        root / "sub" / "z.html",
    ]  # fmt: skip


def test_discover_returns_explicit_unsupported_file_for_load_file_to_report(tmp_path):
    doc = write(tmp_path, "paper.docx", "x")
    files, problems = discover([doc])
    assert (files, problems) == ([doc], [])
    with pytest.raises(UnsupportedFile):
        load_file(files[0])


def test_discover_reports_missing_paths_and_empty_folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    only_pdf = tmp_path / "docs"
    write(only_pdf, "a.docx", "x")
    good = write(tmp_path, "good.txt", "x")
    missing = tmp_path / "missing.txt"
    files, problems = discover([missing, empty, good, only_pdf])
    assert files == [good]
    supported = ".txt, .md, .markdown, .html, .htm, .json, .jsonl, .xml, .rss, .atom, .pdf"
    reason = f"no supported files in folder ({supported})"
    assert problems == [
        (str(missing), "no such file or directory"),
        (str(empty), reason),
        (str(only_pdf / "a.docx"), f"unsupported file type '.docx' (supported: {supported})"),
        (str(only_pdf), reason),
    ]


def test_discover_lists_a_file_once_when_named_twice(tmp_path):
    path = write(tmp_path, "docs/a.txt", "x")
    files, _ = discover([path, tmp_path / "docs"])
    assert files == [path]


# --------------------------------------------------------------------------- property


def _has_binary_control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text())
def test_any_text_file_loads_as_its_normalised_content_or_fails_cleanly(tmp_path, content):
    path = write(tmp_path, "prop.txt", content)
    expected = normalised(content)
    try:
        result = load_file(path)
    except EmptyArticle:
        # nothing but blanks, or nothing but what the defences drop (a lone "[0]" is a
        # forged citation marker)
        assert without_injections(expected).strip() == ""
    except BinaryFile:
        assert _has_binary_control(content)
    else:
        assert len(result.articles) == 1 and result.problems == []
        article = result.articles[0]
        assert article.text == expected
        first_line = next(line for line in expected.split("\n") if line.strip())
        assert article.title == " ".join(first_line.split())
