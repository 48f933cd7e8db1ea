"""`assistant ingest https://...`: pages, feeds and PDFs fetched with httpx from a server
the tests start on 127.0.0.1 (real sockets), and every way a server can fail."""

from __future__ import annotations

import json
import time

import pytest

from assistant.embeddings import MiniLMEmbeddings
from assistant.fetch import Fetcher, FetchError
from assistant.ingest import ingest
from assistant.service import index_stats
from assistant.store import PassageStore

from ..conftest import CountingEmbeddings, free_port, run_cli, write
from ..pdfs import pdf_bytes

STORY = [
    "The harbour reopened on Monday after three weeks of repairs to the northern quay, "
    "the port authority said.",
    "Ferries to the islands resumed at noon, and the first cargo ship docked in the evening.",
    "Repairs cost 4.2 million euros, less than the 5 million the council had set aside in March.",
]


def page(title: str, paragraphs: list[str], canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<html><head><title>{title}</title>{link}<meta name="author" content="Ann Lee"></head><body>'
        '<nav><a href="/">Home</a> <a href="/news">News</a></nav>'
        f"<article><h1>{title}</h1>{body}</article><footer>Copyright Harbour Times</footer></body></html>"
    )


def feed(base: str, entries: list[tuple[str, str, str | None]]) -> str:
    """RSS with entries (title, path, full text or None for a summary-only entry)."""
    items = []
    for title, path, full in entries:
        content = f"<content:encoded><![CDATA[<p>{full}</p>]]></content:encoded>" if full else ""
        items.append(
            f"<item><title>{title}</title><link>{base}{path}</link>"
            "<pubDate>Tue, 05 Nov 2024 10:00:00 GMT</pubDate>"
            f"<description>Summary of {title.lower()}.</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Harbour Times</title>{''.join(items)}</channel></rss>"
    )


@pytest.fixture
def web():
    from ..web_server import WebServer

    with WebServer() as server:
        yield server


@pytest.fixture(scope="module")
def counting():
    # Labelled as the configured model: `index_stats` opens the index as the settings say.
    return CountingEmbeddings(model_id=MiniLMEmbeddings.model_id)


@pytest.fixture
def fetcher():
    with Fetcher(timeout_s=1.0, max_bytes=200_000) as f:
        yield f


def stored(settings):
    return PassageStore.open(settings, MiniLMEmbeddings.model_id).articles()


def reasons(report) -> dict[str, str]:
    return {s.path: s.reason for s in report.skipped}


# --------------------------------------------------------------------------- pages


def test_a_page_url_is_fetched_extracted_and_re_ingested_with_its_etag(web, settings, counting, fetcher):
    web.route(
        "/story", page("Harbour reopens", STORY, canonical="https://harbour.example/story"), etag='"v1"'
    )
    url = web.url("/story")
    first = ingest([url], settings, embeddings=counting, fetcher=fetcher)
    assert (first.added, first.skipped) == (1, [])
    [record] = stored(settings).values()
    assert (record.path, record.source, record.title) == (
        url,
        "https://harbour.example/story",
        "Harbour reopens",
    )
    passages = PassageStore.open(settings, counting.model_id).article_passages(record.article_id)
    text = "\n".join(p.text for p in passages)
    assert all(s in text for s in STORY) and "Home" not in text and "Copyright" not in text
    embedded = counting.embedded
    again = ingest([url], settings, embeddings=counting, fetcher=fetcher)
    assert (again.added, again.updated, again.unchanged, again.chunks) == (0, 0, 1, 0)
    assert counting.embedded == embedded  # nothing embedded again
    assert web.hits("/story")[-1].headers.get("if-none-match") == '"v1"'
    # the page changes: a new ETag, the new text, its passages replaced
    web.route(
        "/story",
        page("Harbour reopens", [*STORY[:2], "The quay will be inspected again in May."]),
        etag='"v2"',
    )
    changed = ingest([url], settings, embeddings=counting, fetcher=fetcher)
    assert (changed.updated, changed.unchanged) == (1, 0) and counting.embedded > embedded


def test_last_modified_is_sent_back_too(web, settings, counting, fetcher):
    stamp = "Tue, 05 Nov 2024 10:00:00 GMT"
    web.route("/lm", page("Harbour reopens", STORY), last_modified=stamp)
    ingest([web.url("/lm")], settings, embeddings=counting, fetcher=fetcher)
    again = ingest([web.url("/lm")], settings, embeddings=counting, fetcher=fetcher)
    assert (again.unchanged, again.chunks) == (1, 0)
    assert web.hits("/lm")[-1].headers.get("if-modified-since") == stamp


def test_validators_are_not_trusted_when_the_index_lost_the_article(web, settings, counting, fetcher):
    web.route("/story", page("Harbour reopens", STORY), etag='"v1"')
    ingest([web.url("/story")], settings, embeddings=counting, fetcher=fetcher)
    store = PassageStore.open(settings, counting.model_id)
    [record] = store.articles().values()
    store.apply(list(record.chunk_ids), [], [], {})  # the article is gone from the index
    again = ingest([web.url("/story")], settings, embeddings=counting, fetcher=fetcher)
    assert again.added == 1  # fetched in full, not "not modified"
    assert "if-none-match" not in web.hits("/story")[-1].headers


def test_redirects_are_followed_and_bounded(web, settings, counting, fetcher):
    web.route("/old", redirect="/new")
    web.route("/new", page("Harbour reopens", STORY))
    web.route("/loop", redirect="/loop")
    report = ingest([web.url("/old"), web.url("/loop")], settings, embeddings=counting, fetcher=fetcher)
    assert report.added == 1
    assert reasons(report) == {web.url("/loop"): "too many redirects (more than 5)"}
    assert len(web.hits("/loop")) == 6
    [record] = stored(settings).values()
    assert (record.path, record.source) == (web.url("/old"), web.url("/new"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ({"status": 404, "body": "gone"}, "HTTP 404 Not Found"),
        ({"status": 500, "body": "oops"}, "HTTP 500 Internal Server Error"),
        (
            {"body": b"\x89PNG....", "content_type": "image/png"},
            "unsupported content type 'image/png' (expected a web page, an RSS or Atom feed, or a PDF)",
        ),
        (
            {"body": b"\x01\x02 just bytes", "content_type": None},
            "no content type, and the body is not one (expected a web page, an RSS or Atom feed, or a PDF)",
        ),
        ({"body": "x" * 300_000}, "too large (0.3 MB; the limit is 0.2 MB)"),
        ({"body": "x" * 300_000, "drip": 0.0}, "too large (more than the limit of 0.2 MB)"),
        ({"hang": True}, "timed out (no response, after 1 s)"),
        ({"body": page("Slow", STORY), "drip": 0.3}, "timed out (the body took more than 4 s)"),
        ({"body": "<html><body><nav>Menu only</nav></body></html>"}, "no text after HTML cleaning"),
    ],
    ids=["404", "500", "image", "no-type", "too-large", "too-large-streamed", "hang", "drip", "no-text"],
)
def test_each_failure_is_one_line_and_nothing_stored_is_lost(web, settings, counting, fetcher, route, reason):
    web.route("/ok", page("Harbour reopens", STORY))
    ingest([web.url("/ok")], settings, embeddings=counting, fetcher=fetcher)
    before = stored(settings)
    web.route("/ok", **route)
    started = time.monotonic()
    report = ingest([web.url("/ok")], settings, embeddings=counting, fetcher=fetcher)
    assert time.monotonic() - started < 10
    assert reasons(report) == {web.url("/ok"): reason}
    assert stored(settings) == before  # the page stored by the first run is still there


def test_connection_refused_is_one_line(settings, counting, fetcher):
    url = f"http://127.0.0.1:{free_port()}/x"
    report = ingest([url], settings, embeddings=counting, fetcher=fetcher)
    assert report.skipped[0].reason.startswith("cannot connect (")
    assert not report.ingested_anything


def test_fetcher_refuses_other_schemes():
    with Fetcher(timeout_s=1) as f, pytest.raises(FetchError) as caught:
        f.get("ftp://example.com/x")
    assert caught.value.reason == "not an http:// or https:// URL"


def test_a_pdf_url_keeps_its_pages(web, settings, counting, fetcher):
    web.route(
        "/report.pdf",
        pdf_bytes([["Harbour report", "Page one text."], ["Page two text."]]),
        content_type="application/pdf",
    )
    report = ingest([web.url("/report.pdf")], settings, embeddings=counting, fetcher=fetcher)
    assert report.added == 1
    [passage] = PassageStore.open(settings, counting.model_id).all_passages()
    assert passage.page == 1 and passage.page_at(passage.start + passage.text.index("Page two")) == 2


# --------------------------------------------------------------------------- feeds


def test_a_feed_url_fetches_the_pages_of_summary_only_entries(web, settings, counting, fetcher):
    base = web.url("")
    web.route("/rss", feed(base, [("Budget passes", "/budget", "The council approved the budget on Tuesday."),
                                  ("Harbour reopens", "/harbour", None)]),
              content_type="application/rss+xml", etag='"f1"')  # fmt: skip
    web.route("/harbour", page("Harbour reopens", STORY))
    first = ingest([web.url("/rss")], settings, embeddings=counting, fetcher=fetcher)
    assert (first.added, first.skipped) == (2, [])
    assert len(web.hits("/harbour")) == 1 and web.hits("/budget") == []  # a full entry needs no page
    store = PassageStore.open(settings, counting.model_id)
    harbour = [p for p in store.all_passages() if p.title == "Harbour reopens"]
    assert (
        STORY[0] in harbour[0].text and not harbour[0].summary_only and harbour[0].published == "2024-11-05"
    )
    assert index_stats(settings)["summary_only_articles"] == 0
    # not modified: only the feed is asked, nothing embedded
    embedded = counting.embedded
    again = ingest([web.url("/rss")], settings, embeddings=counting, fetcher=fetcher)
    assert (again.unchanged, again.chunks) == (2, 0) and counting.embedded == embedded
    assert len(web.hits("/harbour")) == 1
    # the feed changes: a new entry's page is fetched, the unchanged entry's is not
    web.route("/rss", feed(base, [("Harbour reopens", "/harbour", None), ("Rail strike", "/rail", None)]),
              content_type="application/rss+xml", etag='"f2"')  # fmt: skip
    web.route(
        "/rail", page("Rail strike", ["Train drivers will strike on Friday over pay, the union said."] * 3)
    )
    changed = ingest([web.url("/rss")], settings, embeddings=counting, fetcher=fetcher)
    assert (changed.added, changed.unchanged, changed.removed) == (1, 1, 1)  # the budget entry left the feed
    assert len(web.hits("/harbour")) == 1 and len(web.hits("/rail")) == 1


def test_a_summary_entry_whose_page_fails_keeps_its_summary_and_says_so(web, settings, counting, fetcher):
    web.route("/rss", feed(web.url(""), [("Harbour reopens", "/missing", None)]), content_type="text/xml")
    report = ingest([web.url("/rss")], settings, embeddings=counting, fetcher=fetcher)
    assert report.added == 1
    assert reasons(report) == {
        web.url("/rss"): (
            f"entry 'Harbour reopens': page {web.url('/missing')}: HTTP 404 Not Found; "
            "its summary was ingested"
        )
    }
    assert index_stats(settings)["summary_only_articles"] == 1


def test_a_feed_served_as_text_html_is_read_as_a_feed(web, settings, counting, fetcher):
    web.route("/feed", feed(web.url(""), [("Budget passes", "/b", "The council approved the budget.")]))
    assert ingest([web.url("/feed")], settings, embeddings=counting, fetcher=fetcher).added == 1


# --------------------------------------------------------------------------- offline by default, the CLI


def test_nothing_is_fetched_unless_a_url_is_named(web, settings, counting, tmp_path):
    folder = tmp_path / "saved"
    write(folder / "links.html", page("Links", [f'See <a href="{web.url("/x")}">this</a>.', *STORY]))
    write(folder / "news.rss", feed(web.url(""), [("Harbour reopens", "/harbour", None)]))
    report = ingest([folder], settings, embeddings=counting)
    assert report.added == 2 and web.requests == []
    assert index_stats(settings)["summary_only_articles"] == 1  # a feed file's summaries stay summaries


@pytest.mark.slow
def test_cli_ingests_a_url_and_reports_each_failure_in_one_line(web, tmp_path, monkeypatch):
    web.route("/story", page("Harbour reopens", STORY), etag='"v1"')
    web.route("/hang", hang=True)
    web.route("/img", b"\x89PNG", content_type="image/png")
    env_timeout = {"ASSISTANT_REQUEST_TIMEOUT_S": "1"}
    good = write(tmp_path / "in" / "good.txt", "Port news\nThe harbour reopened on Monday after repairs.\n")
    args = [
        "ingest",
        web.url("/story"),
        web.url("/hang"),
        web.url("/img"),
        web.url("/nope"),
        str(good),
        "--json",
    ]
    proc = run_cli(*args, tmp_path=tmp_path, check_exit=0, extra_env=env_timeout)
    report = json.loads(proc.stdout)
    assert report["added"] == 2
    assert {s["path"]: s["reason"] for s in report["skipped"]} == {
        web.url("/hang"): "timed out (no response, after 1 s)",
        web.url(
            "/img"
        ): "unsupported content type 'image/png' (expected a web page, an RSS or Atom feed, or a PDF)",
        web.url("/nope"): "HTTP 404 Not Found",
    }
    text = run_cli(
        "ingest", web.url("/story"), web.url("/nope"), tmp_path=tmp_path, check_exit=0, extra_env=env_timeout
    )
    assert f"skipped {web.url('/nope')}: HTTP 404 Not Found" in text.stderr
    assert "0 added, 0 updated, 1 unchanged" in text.stdout
    # --prune removes articles whose files are gone, never those from URLs
    good.unlink()
    pruned = json.loads(
        run_cli(
            "ingest", str(tmp_path / "in"), "--prune", "--json", tmp_path=tmp_path, extra_env=env_timeout
        ).stdout
    )
    assert pruned["removed"] == 1
    stats = json.loads(run_cli("index", "stats", "--json", tmp_path=tmp_path, check_exit=0).stdout)
    assert stats["articles"] == 1
