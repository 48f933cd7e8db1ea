"""Issue 7: interrupted and concurrent ingests, damaged index folders.

Ingests run as real processes (the ``assistant`` CLI, or the CLI's ``main`` from a small
``python -c`` driver that lowers the batch size or patches one method to die at an exact
point) and are SIGKILLed at a spread of moments. After each kill the index must be
consistent as far as it got; after a normal rerun every article must be there exactly
once, in its current version, with the BM25 side holding the very same passages.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from assistant.chunking import ChunkSizes, chunk_article
from assistant.config import load_settings
from assistant.documents import load_file
from assistant.embeddings import MiniLMEmbeddings
from assistant.lexical import LexicalIndex
from assistant.retrieval import Searcher
from assistant.store import PassageStore

# Every test here starts `assistant` processes (and kills some of them mid-write).
pytestmark = pytest.mark.slow

CLI = Path(sys.executable).parent / "assistant"
WORDS = (
    "market council strike port tariff ministry rail union election budget energy wheat drought court "
    "ruling vaccine bank rate inflation harbour festival museum bridge river storm grain freight"
).split()

# Runs the CLI with a smaller write batch (argv: batch, then the CLI's own arguments) and,
# optionally, dies with os._exit(9) at one exact point (argv before that: the point).
DRIVER = r"""
import os, sys
point = sys.argv.pop(1)
import assistant.ingest as ingest_module
from assistant.store import PassageStore
ingest_module.BATCH_PASSAGES = int(sys.argv.pop(1))
if point == "before-lexical-save":  # Chroma written, lexical side not yet saved
    original = PassageStore._save_lexical
    def patched(self, lexical, revision):
        if len(lexical):
            os._exit(9)
        return original(self, lexical, revision)
    PassageStore._save_lexical = patched
elif point == "before-final-stamp":  # lexical side saved, Chroma not yet stamped with it
    original = PassageStore._stamp
    def patched(self, revision):
        if not revision.startswith("writing-"):
            os._exit(9)
        return original(self, revision)
    PassageStore._stamp = patched
elif point in ("between-add-and-delete", "at-add"):  # new passages added (or not), old ones not yet deleted
    from chromadb.api.models.Collection import Collection
    def patched(self, *args, **kwargs):
        os._exit(9)
    setattr(Collection, "delete" if point == "between-add-and-delete" else "upsert", patched)
from assistant.cli import main
main(prog_name="assistant")
"""


# -- helpers ------------------------------------------------------------------------------
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    clean["ASSISTANT_CACHE_DIR"] = str(tmp_path / "cache")
    return clean


def settings_for(tmp_path: Path, index: Path):
    return load_settings(env={}, index_dir=index, cache_dir=tmp_path / "cache")


def write_corpus(folder: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        paragraphs = []
        for p in range(rng.randint(2, 6)):
            sentences = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 15))).capitalize()
                + f", said source {p}{s}."
                for s in range(rng.randint(3, 6))
            ]
            paragraphs.append(" ".join(sentences))
        paragraphs[0] += f" The codeword is quokka{i}."
        (folder / f"story{i:02d}.md").write_text(
            f"# Story {i} on {WORDS[i % len(WORDS)]}\n\n" + "\n\n".join(paragraphs) + "\n"
        )


def expected(folder: Path, settings) -> dict[str, dict]:
    """article id -> {'ids': chunk ids of the current version, 'hash', 'source'}."""
    sizes = ChunkSizes(
        settings.chunk_target_tokens,
        settings.chunk_max_tokens,
        settings.chunk_min_tokens,
        settings.chunk_overlap_tokens,
    )
    out = {}
    for path in sorted(folder.iterdir()):
        for article in load_file(path).articles:
            chunks = chunk_article(article, sizes)
            out[article.article_id] = {
                "ids": {c.chunk_id for c in chunks},
                "hash": article.content_hash,
                "source": path.name,
            }
    return out


def start(tmp_path, folder, index, *, batch=None, point="none", extra=()):
    if batch is None and point == "none":
        cmd = [str(CLI), "ingest", str(folder), "--index", str(index), "--json", *extra]
    else:
        cmd = [
            sys.executable,
            "-c",
            DRIVER,
            point,
            str(batch or 256),
            "ingest",
            str(folder),
            "--index",
            str(index),
            "--json",
            *extra,
        ]
    return subprocess.Popen(cmd, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(tmp_path, folder, index, **kw) -> subprocess.CompletedProcess:
    proc = start(tmp_path, folder, index, **kw)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def lexical_saves(index: Path) -> tuple:
    try:
        st = os.stat(index / "lexical" / "meta.json")
        return (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return ()


def kill_after(proc, index: Path, saves: int | None, delay: float) -> bool:
    """SIGKILL ``proc`` ``delay`` s after its ``saves``-th lexical save (from its start when
    None). False when it finished first."""
    if saves is not None:
        seen, last = 0, lexical_saves(index)
        while seen < saves:
            if proc.poll() is not None:
                return False
            now = lexical_saves(index)
            if now != last:
                seen, last = seen + 1, now
            time.sleep(0.002)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def chroma_rows(tmp_path, index: Path):
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # read what the other processes wrote, afresh
    store = PassageStore.open(settings_for(tmp_path, index), MiniLMEmbeddings.model_id)
    got = store._chroma._collection.get(include=["metadatas", "documents"])
    return store, got


def check_partial(tmp_path, index: Path, allowed: dict[str, dict], versions: list[dict] | None = None) -> int:
    """State right after a kill: nothing foreign; with ``versions``, each article has at
    least one version complete (never neither); opening repairs the lexical side."""
    if not (index / "chroma").exists():
        return 0
    store, got = chroma_rows(tmp_path, index)
    ids = set(got["ids"])
    all_allowed = set().union(*(a["ids"] for v in (versions or [allowed]) for a in v.values()))
    assert ids <= all_allowed, f"passages that belong to no version: {sorted(ids - all_allowed)[:5]}"
    if versions:
        for article_id in versions[-1]:
            stored = {c for c in ids if c.startswith(article_id)}
            complete = [v[article_id]["ids"] <= stored for v in versions if article_id in v]
            assert any(complete), f"article {article_id} has no complete version after the kill"
    lexical = store.lexical  # the next open: rebuilt from Chroma if the kill left them out of step
    assert lexical.revision == store.revision
    assert sorted(lexical.meta.ids) == sorted(ids)
    return len(ids)


def check_final(tmp_path, index: Path, folder: Path, embeddings) -> None:
    want = expected(folder, settings_for(tmp_path, index))
    store, got = chroma_rows(tmp_path, index)
    ids = got["ids"]
    assert len(ids) == len(set(ids))
    by_article: dict[str, list] = {}
    for chunk_id, meta, text in zip(ids, got["metadatas"], got["documents"]):
        by_article.setdefault(meta["article_id"], []).append((chunk_id, meta, text))
    assert set(by_article) == set(want), "articles lost or left over"
    for article_id, rows in by_article.items():
        assert {c for c, _, _ in rows} == want[article_id]["ids"], (
            f"{want[article_id]['source']}: wrong passages"
        )
        assert {m["content_hash"] for _, m, _ in rows} == {want[article_id]["hash"]}
        assert {int(m["n_passages"]) for _, m, _ in rows} == {len(rows)}
        texts = [t for _, _, t in rows]
        assert len(texts) == len(set(texts)), "a passage stored twice"
    saved = LexicalIndex.load(index / "lexical")  # on disk, as the last writer left it
    assert saved is not None and saved.revision == store.revision
    assert len(saved.meta.ids) == len(set(saved.meta.ids)) == store.count()
    assert set(saved.meta.ids) == set(ids)
    searcher = Searcher(store, embeddings, settings_for(tmp_path, index))
    for article_id in list(want)[:: max(1, len(want) // 4)]:
        n = int(want[article_id]["source"][5:7])
        sources = [h.passage.source for h in searcher.search(f"quokka{n}", 5)]
        assert want[article_id]["source"] in sources


def report(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def lock_held(index: Path) -> bool:
    """Whether some process holds the flock on ``index/.lock``, read from /proc/locks so
    that asking never takes the lock (and never makes an ingest starting now refuse)."""
    try:
        inode = os.stat(index / ".lock").st_ino
    except FileNotFoundError:
        return False
    with open("/proc/locks") as locks:
        return any(line.split()[1] == "FLOCK" and line.split()[5].endswith(f":{inode}") for line in locks)


def wait_for_lock(proc, index: Path) -> None:
    deadline = time.time() + 30
    while not lock_held(index):
        assert proc.poll() is None and time.time() < deadline, "the first ingest never took the lock"
        time.sleep(0.01)


# -- kills --------------------------------------------------------------------------------
def test_killed_at_a_spread_of_moments_then_rerun(tmp_path, embeddings):
    """Timing: SIGKILL each run at a spread of moments (while starting up, while planning
    and loading the model, and a growing delay after its first write), each run carrying
    on from what the killed ones left; then one normal run. The delays are counted from
    those events, not from the start, so a loaded machine's slow start-up does not push
    every kill before the first write."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 48)
    want = expected(folder, settings_for(tmp_path, index))
    total = sum(len(a["ids"]) for a in want.values())
    kills, partial = 0, 0
    moments = [("start", None, 0.3), ("lock", None, 0.3)] + [
        ("lock", 1, d) for d in (0.0, 0.05, 0.12, 0.25, 0.4, 0.6)
    ]
    for anchor, saves, delay in moments:
        proc = start(tmp_path, folder, index, batch=4)
        if anchor == "lock":
            wait_for_lock(proc, index)
        if kill_after(proc, index, saves, delay):
            kills += 1
            stored = check_partial(tmp_path, index, want)
            partial += 0 < stored < total
    print(f"spread: {kills} kills, {partial} with a part of the corpus stored")
    assert kills >= 5 and partial >= 2, (kills, partial)  # the kills did land mid-ingest
    final = report(run(tmp_path, folder, index))
    assert final["added"] + final["unchanged"] == len(want)
    assert final["chunks"] < total  # only what was missing was embedded
    check_final(tmp_path, index, folder, embeddings)


def test_update_killed_after_lexical_saves_then_rerun(tmp_path, embeddings):
    """Changed and deleted articles; each run killed just after its n-th batch write (at
    the Chroma/lexical boundary and a little later). No article is ever left without a
    complete version, and the rerun ends with exactly the new ones."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 20)
    report(run(tmp_path, folder, index))
    before = expected(folder, settings_for(tmp_path, index))
    for i in range(0, 20, 2):  # half change
        path = folder / f"story{i:02d}.md"
        path.write_text(
            path.read_text().replace("The codeword", "Revised: the codeword") + "\nA late update on grain.\n"
        )
    (folder / "story19.md").unlink()
    after = expected(folder, settings_for(tmp_path, index))
    kills = 0
    for saves, delay in ((1, 0.0), (2, 0.0), (1, 0.01), (1, 0.1)):
        proc = start(tmp_path, folder, index, batch=4, extra=("--prune",))
        if kill_after(proc, index, saves, delay):
            kills += 1
            check_partial(tmp_path, index, after, versions=[before, after])
    print(f"update: {kills} kills")
    assert kills >= 3, kills
    final = report(run(tmp_path, folder, index, extra=("--prune",)))
    assert final["chunks"] <= sum(
        len(after[a]["ids"]) for a in after if after[a]["hash"] != before[a]["hash"]
    )
    check_final(tmp_path, index, folder, embeddings)


@pytest.mark.parametrize(
    "point, repaired_by",
    [("before-lexical-save", "open"), ("before-lexical-save", "ingest"), ("before-final-stamp", "open")],
)
def test_killed_between_chroma_and_lexical_writes(tmp_path, embeddings, point, repaired_by):
    """Killed with Chroma written and the lexical side not (or Chroma not yet stamped):
    the two revisions differ, so the next open (a search, or the next ingest itself)
    rebuilds the lexical side from Chroma."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 10)
    want = expected(folder, settings_for(tmp_path, index))
    died = run(tmp_path, folder, index, batch=8, point=point)
    assert died.returncode == 9, died.stderr[-2000:]  # it reached the point
    store, got = chroma_rows(tmp_path, index)
    written = len(got["ids"])
    assert written > 0
    on_disk = LexicalIndex.load(index / "lexical")
    assert on_disk is None or on_disk.revision != store.revision  # visibly out of step
    if point == "before-lexical-save":
        assert on_disk is None or set(on_disk.meta.ids) != set(got["ids"])  # and really stale
    if repaired_by == "open":
        assert check_partial(tmp_path, index, want) == written
    final = report(run(tmp_path, folder, index))
    assert final["chunks"] == sum(len(a["ids"]) for a in want.values()) - written  # the written batch is kept
    check_final(tmp_path, index, folder, embeddings)


@pytest.mark.parametrize("point", ["at-add", "between-add-and-delete"])
def test_update_killed_between_adding_and_deleting(tmp_path, embeddings, point):
    """An update replaces an article's passages without a moment when it has none."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 8)
    report(run(tmp_path, folder, index))
    before = expected(folder, settings_for(tmp_path, index))
    for i in (1, 4):
        path = folder / f"story{i:02d}.md"
        path.write_text(path.read_text() + "\nCorrection: the bridge reopened on Monday.\n")
    after = expected(folder, settings_for(tmp_path, index))
    died = run(tmp_path, folder, index, point=point)
    assert died.returncode == 9, died.stderr[-2000:]
    check_partial(tmp_path, index, after, versions=[before, after])
    final = report(run(tmp_path, folder, index))
    changed = sum(len(after[a]["ids"]) for a in after if after[a]["hash"] != before[a]["hash"])
    # Added before the kill: the old versions are dropped and nothing is embedded again.
    assert (final["updated"], final["chunks"]) == (2, changed if point == "at-add" else 0)
    check_final(tmp_path, index, folder, embeddings)


# -- two writers ------------------------------------------------------------------------------
def test_second_ingest_is_refused_and_a_killed_holder_frees_the_lock(tmp_path, embeddings):
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 24)
    first = start(tmp_path, folder, index, batch=4)
    wait_for_lock(first, index)
    second = run(tmp_path, folder, index)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another ingest" in lines[0] and str(index) in lines[0], second.stderr
    assert "Traceback" not in second.stderr
    assert first.poll() is None  # the refused one did not disturb the first
    first.send_signal(signal.SIGKILL)  # killed while holding the lock
    first.wait()
    assert not lock_held(index)
    report(run(tmp_path, folder, index))
    check_final(tmp_path, index, folder, embeddings)


HOLD_LOCK = r"""
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


@contextmanager
def another_process_holding_the_lock(index: Path) -> Iterator[None]:
    """Another process holds ``index/.lock`` (as an ingest at work does) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(index / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def cli(tmp_path: Path, index: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *command, "--index", str(index)],
        env=env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_index_a_first_ingest_is_creating_is_named_busy_not_damaged(tmp_path, embeddings):
    """The moment of a first ingest that CI once caught: the marker written and chroma/
    made, Chroma's database not yet there, the lock held. Another ingest, or a search,
    must say an ingest is at work, not that the folder is damaged; once the holder dies,
    the same folder ingests normally (an empty chroma/ holds nothing to lose)."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 3)
    index.mkdir()
    (index / "assistant-index.json").write_text(
        json.dumps({"format": 1, "kind": "assistant passage index"}) + "\n"
    )
    (index / "chroma").mkdir()
    with another_process_holding_the_lock(index):
        for command, expected in (
            (["ingest", str(folder)], "another ingest is writing to"),
            (["search", "quokka1"], "an ingest is creating"),
        ):
            result = cli(tmp_path, index, *command)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 1 and len(lines) == 1 and expected in lines[0], (
                command,
                result.stderr,
            )
            assert str(index) in lines[0]
    report(run(tmp_path, folder, index))
    check_final(tmp_path, index, folder, embeddings)


def test_a_reader_repairs_the_lexical_side_only_when_no_ingest_is_at_work(tmp_path):
    """After an ingest killed before its final stamp the revisions differ. A search rebuilds
    the lexical side in memory either way, but saves it only when no ingest holds the lock:
    one at work is about to save its own, and the two saves would cross."""
    folder, index = tmp_path / "articles", tmp_path / "index"
    write_corpus(folder, 6)
    died = run(tmp_path, folder, index, batch=4, point="before-final-stamp")
    assert died.returncode == 9, died.stderr[-2000:]
    saved = lexical_saves(index)

    def search():
        result = cli(tmp_path, index, "search", "quokka0")
        assert result.returncode == 0 and "Story 0" in result.stdout, result.stderr

    with another_process_holding_the_lock(index):
        search()
        assert lexical_saves(index) == saved
    search()
    assert lexical_saves(index) != saved


# -- damaged and foreign folders ----------------------------------------------------------------
@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    base = tmp_path_factory.mktemp("small")
    write_corpus(base / "articles", 3)
    report(run(base, base / "articles", base / "index"))
    return base


def damage_sqlite_garbage(index: Path) -> None:
    (index / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(64 * 1024))


def damage_sqlite_truncated(index: Path) -> None:
    db = index / "chroma" / "chroma.sqlite3"
    db.write_bytes(db.read_bytes()[:3000])  # the header survives, the tables do not


def damage_marker(index: Path) -> None:
    (index / "assistant-index.json").write_text('{"format": 1, "ki')


def foreign_folder(index: Path) -> None:
    shutil.rmtree(index)
    index.mkdir()
    (index / "thesis.docx").write_bytes(b"precious")
    (index / "data").mkdir()
    (index / "data" / "notes.sqlite3").write_bytes(b"SQLite format 3\x00" + bytes(100))


@pytest.mark.parametrize(
    "damage", [damage_sqlite_garbage, damage_sqlite_truncated, damage_marker, foreign_folder]
)
def test_damaged_or_foreign_folder_is_refused_untouched(tmp_path, small_index, damage):
    index = tmp_path / "index"
    shutil.copytree(small_index / "index", index)
    damage(index)
    before = snapshot(index)
    commands = [["ingest", str(small_index / "articles")]]
    if damage in (damage_sqlite_truncated, foreign_folder):  # reading is refused as cleanly
        commands.append(["search", "quokka1"])
    for command in commands:
        result = cli(tmp_path, index, *command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(index) in lines[0]
        assert any(
            hint in lines[0]
            for hint in ("move it aside", "choose an empty or new folder", "point --index at")
        ), lines[0]
        assert snapshot(index) == before, "the damaged folder was changed"
