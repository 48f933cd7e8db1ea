"""Checks on the eval data itself: the golden questions and the corpus they are graded against.

Fast and offline: only reads `evals/golden.jsonl`, `evals/corpus/*.txt` and `*.md` (the latter through
the assistant's own loader, which reads their front matter), and the bundled sample article in
`articles/`. A failure names the question id and the offending field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVALS = ROOT / "evals"
CORPUS = EVALS / "corpus"
GOLDEN = EVALS / "golden.jsonl"
ARTICLES = ROOT / "articles"
SAMPLE_NAME = "alibaba-pla-white-house-memo.txt"

REQUIRED_FIELDS = {"id", "type", "split", "question", "answer", "must_include", "sources", "evidence"}
# Tune on dev (read its failures); report on test (never read its failures while tuning).
SPLITS = ("dev", "test")
MIN_PER_TYPE = {
    "factoid": 10,
    "list": 5,
    "who": 6,
    "numeric": 7,
    "why": 5,
    "paraphrase": 6,
    "multi-doc": 8,
    "unanswerable": 10,
    "follow-up": 6,
    "yes-no": 5,
    "update": 5,
    "conflict": 4,
    "date-bound": 4,
}
REFUSAL = "The articles do not say."
MIN_QUESTIONS = 64
MIN_CORPUS_FILES = 16


CORPUS_SUFFIXES = (".txt", ".md")


def corpus_files() -> list[Path]:
    """The articles written for the eval: plain-text files and Markdown files with front
    matter. (The corpus also links the bundled sample article, a real page of another shape.)"""
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.iterdir() if p.is_file() and not p.is_symlink() and p.suffix in CORPUS_SUFFIXES
    )


@cache
def loaded(path: Path):
    """A corpus article as the assistant loads it (a .md's front matter gives title, date, author)."""
    from assistant.documents import load_file

    return load_file(path).articles[0]


def _load_rows() -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(GOLDEN.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            rows.append((number, json.loads(line)))
    return rows


ROWS = [row for _, row in _load_rows()] if GOLDEN.exists() else []
IDS = [str(row.get("id", f"line{i}")) for i, row in enumerate(ROWS, 1)]


def source_path(name: str) -> Path | None:
    """A gold source is a corpus file, or the bundled sample article."""
    for folder in (CORPUS, ARTICLES):
        path = folder / name
        if path.is_file():
            return path
    return None


@cache
def source_text(name: str) -> str:
    path = source_path(name)
    assert path is not None, f"source {name!r} exists in neither evals/corpus/ nor articles/"
    return path.read_text(encoding="utf-8")


def alternatives(item: str | list[str]) -> list[str]:
    return item if isinstance(item, list) else [item]


def sources_with(row: dict, evidence: str) -> set[str]:
    return {name for name in row["sources"] if source_path(name) and evidence in source_text(name)}


# --- the file as a whole ------------------------------------------------------------------


def test_every_line_is_a_json_object():
    assert GOLDEN.is_file(), "evals/golden.jsonl is missing"
    for number, line in enumerate(GOLDEN.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"line {number} is blank"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"line {number} is not JSON: {exc}")
        assert isinstance(row, dict), f"line {number} is not a JSON object"


def test_ids_are_unique_and_numbered():
    assert len(ROWS) >= MIN_QUESTIONS, f"{len(ROWS)} questions, need at least {MIN_QUESTIONS}"
    ids = [row["id"] for row in ROWS]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"duplicate ids: {duplicates}"
    assert all(re.fullmatch(r"q\d{3,}", i) for i in ids), [i for i in ids if not re.fullmatch(r"q\d{3,}", i)]


def test_counts_per_type_meet_the_minimums():
    counts = Counter(row["type"] for row in ROWS)
    short = {
        kind: (counts.get(kind, 0), least)
        for kind, least in MIN_PER_TYPE.items()
        if counts.get(kind, 0) < least
    }
    assert not short, f"too few questions of type (have, need): {short}"


def test_every_type_has_questions_in_both_splits():
    splits: dict[str, set[str]] = {}
    for row in ROWS:
        splits.setdefault(row["type"], set()).add(row["split"])
    assert all(row["split"] in SPLITS for row in ROWS), [
        row["id"] for row in ROWS if row["split"] not in SPLITS
    ]
    # Every type tuned on is reported on unseen questions too; a type may be test-only
    # (written for the test split, never tuned on), never dev-only.
    assert not [kind for kind, found in splits.items() if "test" not in found], splits


def test_corpus_has_enough_articles():
    files = corpus_files()
    assert len(files) >= MIN_CORPUS_FILES, f"{len(files)} corpus files, need at least {MIN_CORPUS_FILES}"


def test_questions_are_not_repeated():
    questions = Counter(
        (row.get("question", "").strip().lower(), json.dumps(row.get("history"))) for row in ROWS
    )
    assert not [q for q, n in questions.items() if n > 1]


def test_the_two_sample_questions_are_present():
    deny = [r for r in ROWS if r["question"] == "What did Alibaba deny?" and r["type"] != "follow-up"]
    assert len(deny) == 1, "exactly one standalone 'What did Alibaba deny?' question"
    assert deny[0]["sources"] == [SAMPLE_NAME]
    assert deny[0]["must_include"] == [["rejected", "denied", "denies"]]
    assert "Alibaba rejected the White House’s claims in a statement to FT." in deny[0]["evidence"]

    follow = [
        r for r in ROWS if r["question"] == "Did it say whether it ever had a relationship with the PLA?"
    ]
    assert len(follow) == 1
    assert follow[0]["type"] == "follow-up"
    assert follow[0]["history"] == [
        {"question": "What did Alibaba deny?", "answer": "Alibaba rejected the White House's claims."}
    ]
    assert follow[0]["must_include"] == [["declined", "avoids", "avoided", "did not comment", "no comment"]]
    assert follow[0]["sources"] == [SAMPLE_NAME]


def test_several_questions_are_about_the_sample_article():
    assert sum(SAMPLE_NAME in row["sources"] for row in ROWS) >= 5


# --- each question ------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_fields_and_types(row):
    expected = REQUIRED_FIELDS | ({"history"} if row.get("type") == "follow-up" else set())
    assert set(row) == expected, f"fields {sorted(set(row) ^ expected)} are wrong (history only on follow-up)"
    assert row["type"] in MIN_PER_TYPE, f"unknown type {row['type']!r}"
    for key in ("id", "question", "answer"):
        assert isinstance(row[key], str) and row[key].strip(), f"{key} must be a non-empty string"
    for key in ("sources", "evidence"):
        assert isinstance(row[key], list) and all(isinstance(v, str) and v.strip() for v in row[key]), key
    assert isinstance(row["must_include"], list)
    for item in row["must_include"]:
        alts = alternatives(item)
        assert alts and all(isinstance(a, str) and a.strip() for a in alts), f"bad must_include item {item!r}"
    assert len(set(row["sources"])) == len(row["sources"]), "duplicate source"


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_sources_exist(row):
    for name in row["sources"]:
        assert Path(name).name == name, f"source {name!r} must be a bare file name"
        assert source_path(name) is not None, f"source {name!r} exists in neither evals/corpus/ nor articles/"


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_evidence_is_verbatim_in_a_source(row):
    for evidence in row["evidence"]:
        assert evidence == evidence.strip(), f"evidence has surrounding whitespace: {evidence!r}"
        assert "\n" not in evidence, f"evidence spans lines: {evidence!r}"
        assert sources_with(row, evidence), f"not verbatim in any of {row['sources']}: {evidence!r}"


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_reference_answer_passes_its_own_must_include(row):
    answer = row["answer"].lower()
    missing = [
        item for item in row["must_include"] if not any(a.lower() in answer for a in alternatives(item))
    ]
    assert not missing, f"reference answer lacks {missing}"


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_answerable_and_unanswerable_shapes(row):
    if row["type"] == "unanswerable":
        assert row["must_include"] == [] and row["sources"] == [] and row["evidence"] == []
        assert row["answer"] == REFUSAL
    else:
        assert row["must_include"], "an answerable question needs at least one must_include"
        assert row["evidence"], "an answerable question needs at least one evidence sentence"
        assert row["sources"], "an answerable question needs a source"
        assert row["answer"] != REFUSAL


@pytest.mark.parametrize("row", [r for r in ROWS if r["type"] == "multi-doc"], ids=lambda r: r["id"])
def test_multi_doc_needs_two_articles(row):
    assert len(set(row["sources"])) >= 2, "multi-doc needs two distinct sources"
    backed = set().union(*(sources_with(row, e) for e in row["evidence"]))
    assert len(backed) >= 2, f"evidence comes from only {sorted(backed)}"


@pytest.mark.parametrize("row", [r for r in ROWS if r["type"] == "conflict"], ids=lambda r: r["id"])
def test_conflict_cites_both_sides(row):
    assert len(set(row["sources"])) >= 2, "a conflict question needs two distinct sources"
    backed = set().union(*(sources_with(row, e) for e in row["evidence"]))
    assert len(backed) >= 2, f"evidence comes from only {sorted(backed)}; a conflict needs both sides"


def publication_date(name: str) -> str | None:
    """The front matter date of a .md source (None for other sources or without a date)."""
    if not name.endswith(".md") or source_path(name) is None:
        return None
    return loaded(source_path(name)).published


@pytest.mark.parametrize("row", [r for r in ROWS if r["type"] == "update"], ids=lambda r: r["id"])
def test_update_cites_a_dated_article(row):
    # The newer article decides an update question, so a source must carry its date; when
    # the older article is cited too, the evidence must include the dated newer one.
    dated = {name: publication_date(name) for name in row["sources"]}
    assert any(dated.values()), f"no source of {row['sources']} is a .md with a front matter date"
    backed = set().union(*(sources_with(row, e) for e in row["evidence"]))
    newest = max((d for d in dated.values() if d), default=None)
    assert any(dated.get(name) == newest for name in backed), (
        "no evidence sentence comes from the newest cited article"
    )


@pytest.mark.parametrize("row", [r for r in ROWS if r["type"] == "follow-up"], ids=lambda r: r["id"])
def test_follow_up_history(row):
    history = row["history"]
    assert isinstance(history, list) and 1 <= len(history) <= 2, "history is 1-2 turns"
    for turn in history:
        assert set(turn) == {"question", "answer"}, f"a turn has exactly question and answer: {turn}"
        assert all(isinstance(v, str) and v.strip() for v in turn.values())


# --- the corpus files ---------------------------------------------------------------------


CORPUS_FILES = corpus_files()


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_article_format(path):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.(txt|md)", path.name), (
        "file names are lowercase-with-dashes"
    )
    text = path.read_bytes().decode("utf-8")  # strict: the corpus is UTF-8
    if path.suffix == ".md":
        # The headline is the front matter's title; the body is everything after the block.
        assert text.startswith("---\n"), "a .md article starts with a --- front matter block"
        article = loaded(path)
        assert re.search(r"^title:[ \t]*\S", text.split("\n---\n", 1)[0], re.MULTILINE), (
            "front matter needs a non-empty title"
        )
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.published or ""), (
            f"front matter date {article.published!r} is not YYYY-MM-DD"
        )
        assert (article.author or "").strip(), "front matter needs an author"
        text = article.text
        lines = text.splitlines()
        body = [line for line in lines if line.strip()]
        assert body and not body[0].startswith("---"), "the body follows the front matter"
    else:
        lines = text.splitlines()
        assert lines and lines[0].strip() and not lines[0].startswith("- "), "first line is the headline"
        body = [line for line in lines[1:] if line.strip()]
    paragraphs = [line for line in body if not line.startswith("- ") and len(line.split()) > 12]
    assert 4 <= len(paragraphs) <= 10, f"{len(paragraphs)} paragraphs"
    words = len(text.split())
    assert 250 <= words <= 600, f"{words} words"


def test_corpus_and_sample_are_used():
    used = {name for row in ROWS for name in row["sources"]}
    unused = [p.name for p in CORPUS_FILES if p.name not in used]
    assert not unused, f"corpus files no question is about: {unused}"
    assert SAMPLE_NAME in used
