"""The command line as a user runs it: real processes, real files, exit codes and output."""

import json
import os
import subprocess
import sys

import pytest

from .conftest import SAMPLE, run_cli, write


@pytest.fixture
def messy(tmp_path):
    folder = tmp_path / "in"
    write(folder / "good.txt", SAMPLE.read_text(encoding="utf-8"))
    (folder / "latin.txt").write_bytes(
        "Caf\xe9 owners \x93welcome\x94 the new rules.\nThe mayor\x92s plan passed.".encode("latin-1")
    )
    write(
        folder / "broken.html",
        "<html><title>Broken page</title><body>"
        "<p>Officials confirmed the bridge reopens Monday.<div><li>item",
    )
    (folder / "empty.txt").write_bytes(b"")
    write(folder / "blank.md", "   \n\n ")
    (folder / "image.txt").write_bytes(bytes(range(256)) * 20)
    write(folder / "bad.json", '{"title": "x", "text": ')
    write(
        folder / "feed.jsonl",
        '{"title": "Ok item", "text": "The port reopened."}\nnot json\n{"title": "No text"}\n',
    )
    return folder


@pytest.mark.slow
def test_ingest_json_reports_each_bad_file_and_ingests_the_rest(tmp_path, messy):
    proc = run_cli("ingest", str(messy), "--json", tmp_path=tmp_path, check_exit=0)
    report = json.loads(proc.stdout)
    assert set(report) == {"added", "updated", "unchanged", "removed", "chunks", "skipped"}
    assert report["added"] == 4  # good, latin, broken.html, one feed item
    reasons = {os.path.basename(s["path"]): s["reason"] for s in report["skipped"]}
    assert {"empty.txt", "blank.md", "image.txt", "bad.json"} <= set(reasons)
    assert "binary" in reasons["image.txt"]
    assert "JSON" in reasons["bad.json"]
    assert "empty" in reasons["empty.txt"].lower()
    assert any("line 2" in s["reason"] for s in report["skipped"] if s["path"].endswith("feed.jsonl"))
    assert all("\n" not in s["reason"] for s in report["skipped"])
    again = json.loads(run_cli("ingest", str(messy), "--json", tmp_path=tmp_path, check_exit=0).stdout)
    assert (again["added"], again["updated"], again["unchanged"], again["chunks"]) == (0, 0, 4, 0)

    # The non-UTF-8 file was decoded, not mangled.
    hits = json.loads(run_cli("search", "mayor plan", "--json", tmp_path=tmp_path, check_exit=0).stdout)[
        "results"
    ]
    assert "The mayor’s plan passed." in hits[0]["text"]
    assert set(hits[0]) == {"text", "source", "title", "chunk_id", "start", "end", "score"}


@pytest.mark.slow
def test_missing_path_fails_but_ingests_the_rest(tmp_path, messy):
    proc = run_cli(
        "ingest", str(messy / "good.txt"), str(tmp_path / "nope.txt"), tmp_path=tmp_path, check_exit=1
    )
    assert "nope.txt" in proc.stderr and "no such file" in proc.stderr
    assert "1 added" in proc.stdout


@pytest.mark.slow
def test_nothing_ingestable_fails_with_one_line(tmp_path, messy):
    empty_folder = tmp_path / "nothing"
    empty_folder.mkdir()
    proc = run_cli("ingest", str(empty_folder), tmp_path=tmp_path, check_exit=1)
    assert "no supported files in folder" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: nothing could be ingested from the given paths"
    proc = run_cli("ingest", str(messy / "empty.txt"), "--json", tmp_path=tmp_path, check_exit=1)
    assert json.loads(proc.stdout)["skipped"][0]["path"].endswith("empty.txt")


@pytest.mark.slow
def test_search_and_stats(tmp_path):
    proc = run_cli("search", "anything", tmp_path=tmp_path, check_exit=1)
    assert proc.stderr.count("\n") == 1 and "assistant ingest" in proc.stderr
    run_cli("ingest", str(SAMPLE.parent), tmp_path=tmp_path, check_exit=0)
    hits = json.loads(
        run_cli("search", "what did Alibaba deny", "--json", tmp_path=tmp_path, check_exit=0).stdout
    )
    top = hits["results"][0]
    assert "Alibaba rejected the White House’s claims" in top["text"]
    assert SAMPLE.read_text(encoding="utf-8")[top["start"] : top["end"]] == top["text"]
    assert top["source"] == SAMPLE.name
    stats = json.loads(run_cli("index", "stats", "--json", tmp_path=tmp_path, check_exit=0).stdout)
    assert stats["articles"] == 1 and stats["passages"] == len(hits["results"]) >= 3  # k=5 > passages
    assert stats["embedding_model"] == "all-MiniLM-L6-v2-int8-onnx" and stats["size_bytes"] > 0
    text = run_cli("index", "stats", tmp_path=tmp_path, check_exit=0).stdout
    assert "articles" in text and "all-MiniLM-L6-v2-int8-onnx" in text


@pytest.mark.slow
def test_user_errors_are_one_line(tmp_path):
    proc = run_cli("search", "x", "--since", "yesterday", tmp_path=tmp_path)
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    (tmp_path / "assistant.toml").write_text("search_k = 'many'\n")
    proc = run_cli("search", "x", tmp_path=tmp_path, check_exit=1)
    assert proc.stderr.strip().splitlines() == [
        "error: invalid setting search_k: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_help_is_fast_to_import():
    # --help must not import the heavy stack (chromadb, langchain, onnxruntime).
    code = (
        "import sys; from assistant.cli import main; "
        "assert not any(m.split('.')[0] in {'chromadb','langchain_core','onnxruntime','numpy'} "
        "for m in sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
