"""The lexical half of hybrid search: Okapi BM25 over the same passages as the vector store.

The index is a sparse passage x term count matrix; BM25 weights are precomputed per
(term, passage) so a query only sums the columns of its terms. It is saved next to the
store and updated in place when passages are added or removed, never rebuilt per query.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

__all__ = ["LexicalIndex", "tokenize"]

_WORD = re.compile(r"[0-9a-z]+(?:[.'’][0-9a-z]+)*")
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or our she that the "
    "their them they this to was were what when where which who whom why will with would you your did "
    "does do how".split()
)
_FORMAT = 1


def _stem(word: str) -> str:
    """A light suffix stripper so 'denies', 'denied' and 'deny' meet; deliberately conservative."""
    word = word.replace("’", "'").removesuffix("'s")
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)] + repl
            if suffix in ("es", "s") and word.endswith("ss"):
                return word
            return stem
    return word


def tokenize(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


@dataclass
class _Meta:
    ids: list[str]
    sources: list[str]
    published: list[int]  # YYYYMMDD, 0 when unknown


class LexicalIndex:
    k1 = 1.2
    b = 0.75

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.counts = sparse.csr_matrix((0, 0), dtype=np.float32)  # passages x terms
        self.meta = _Meta([], [], [])
        self.revision = ""
        self._weights: sparse.csc_matrix | None = None
        self._row_of: dict[str, int] | None = None

    # -- updates ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.meta.ids)

    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {chunk_id: i for i, chunk_id in enumerate(self.meta.ids)}
        return self._row_of

    def add(self, ids: list[str], texts: list[str], sources: list[str], published: list[int]) -> None:
        """Add passages; an id already present is replaced."""
        self.remove(set(ids) & set(self.row_of()))
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            terms: dict[int, int] = {}
            for token in tokenize(text):
                col = self.vocab.setdefault(token, len(self.vocab))
                terms[col] = terms.get(col, 0) + 1
            rows.extend([row] * len(terms))
            cols.extend(terms)
            vals.extend(terms.values())
        added = sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.vocab)), dtype=np.float32)
        old = self.counts
        old.resize((old.shape[0], len(self.vocab)))
        self.counts = sparse.vstack([old, added], format="csr")
        self.meta.ids.extend(ids)
        self.meta.sources.extend(sources)
        self.meta.published.extend(published)
        self._invalidate()

    def remove(self, ids: set[str]) -> None:
        if not ids:
            return
        keep = np.array([chunk_id not in ids for chunk_id in self.meta.ids], dtype=bool)
        self.counts = self.counts[keep]
        self.meta = _Meta(
            [x for x, k in zip(self.meta.ids, keep) if k],
            [x for x, k in zip(self.meta.sources, keep) if k],
            [x for x, k in zip(self.meta.published, keep) if k],
        )
        self._invalidate()

    def _invalidate(self) -> None:
        self._weights = None
        self._row_of = None

    # -- search -------------------------------------------------------------------------
    def idf(self, terms: set[str]) -> dict[str, float]:
        """BM25 idf of each (already tokenized) term; unseen terms get the highest idf."""
        n = len(self)
        df = np.bincount(self.counts.indices, minlength=len(self.vocab)) if n else np.zeros(0)
        out = {}
        for term in terms:
            freq = df[self.vocab[term]] if term in self.vocab else 0
            out[term] = float(np.log(1.0 + (n - freq + 0.5) / (freq + 0.5)))
        return out

    def _bm25_weights(self) -> sparse.csc_matrix:
        if self._weights is None:
            counts = self.counts.tocsr()
            n = counts.shape[0]
            lengths = np.asarray(counts.sum(axis=1)).ravel()
            avg = lengths.mean() if n else 1.0
            df = np.bincount(counts.indices, minlength=counts.shape[1])
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
            tf = counts.data
            row_len = np.repeat(lengths, np.diff(counts.indptr))
            norm = self.k1 * (1 - self.b + self.b * row_len / max(avg, 1e-9))
            data = idf[counts.indices] * tf * (self.k1 + 1) / (tf + norm)
            self._weights = sparse.csr_matrix(
                (data.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape
            ).tocsc()
        return self._weights

    def mask(
        self,
        sources: set[str] | None = None,
        published_from: int | None = None,
        published_to: int | None = None,
    ):
        """Boolean array of passages that pass the filters (None when there is no filter)."""
        if not sources and published_from is None and published_to is None:
            return None
        keep = np.ones(len(self), dtype=bool)
        if sources:
            keep &= np.array([s in sources for s in self.meta.sources], dtype=bool)
        published = np.array(self.meta.published, dtype=np.int64)
        if published_from is not None:
            keep &= published >= published_from
        if published_to is not None:
            keep &= (published <= published_to) & (published > 0)
        return keep

    def search(self, query: str, k: int, mask=None) -> list[tuple[str, float]]:
        """Top ``k`` passage ids with BM25 scores; passages with no query term are left out."""
        if not len(self):
            return []
        cols = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not cols:
            return []
        scores = np.asarray(self._bm25_weights()[:, cols].sum(axis=1)).ravel()
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.meta.ids[i], float(scores[i])) for i in top]

    # -- persistence --------------------------------------------------------------------
    def save(self, folder: Path, revision: str) -> None:
        """Write atomically: a process killed at any point leaves the previous save or
        this one, never a mix. The matrix goes to a new uniquely named file, then
        ``meta.json`` (which names that file) replaces the old one with ``os.replace``;
        only then is the file the old ``meta.json`` named deleted."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        counts_name = f"counts-{token}.npz"
        previous = _referenced_counts(folder)
        tmp_counts = folder / f"{counts_name}{_TMP}"
        with open(tmp_counts, "wb") as handle:
            # Uncompressed: an ingest saves once per batch, and compressing cost ~0.9 s per
            # 10,000 passages each time. Counts are small integers, so uint16 halves the data.
            sparse.save_npz(handle, self.counts.tocsr().astype(np.uint16), compressed=False)
        os.replace(tmp_counts, folder / counts_name)
        tmp_meta = folder / f"meta.json.{token}{_TMP}"
        tmp_meta.write_text(
            json.dumps(
                {
                    "format": _FORMAT,
                    "revision": revision,
                    "counts": counts_name,
                    "vocab": list(self.vocab),
                    "ids": self.meta.ids,
                    "sources": self.meta.sources,
                    "published": self.meta.published,
                }
            )
        )
        os.replace(tmp_meta, folder / "meta.json")
        self.revision = revision
        if previous and previous != counts_name:
            _unlink(folder / previous)
        _sweep(folder, keep=counts_name)

    @classmethod
    def load(cls, folder: Path) -> "LexicalIndex | None":
        """The saved index, or None when there is none or it is unreadable (then rebuild)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            counts_name = meta.get("counts", "counts.npz")
            if Path(counts_name).name != counts_name:
                return None
            counts = sparse.load_npz(folder / counts_name).tocsr()
        except (OSError, ValueError, KeyError, AttributeError, zipfile.BadZipFile):
            return None
        if meta.get("format") != _FORMAT or counts.shape[0] != len(meta["ids"]):
            return None
        index = cls()
        index.vocab = {term: i for i, term in enumerate(meta["vocab"])}
        index.counts = counts.astype(np.float32)
        index.meta = _Meta(meta["ids"], meta["sources"], meta["published"])
        index.revision = meta["revision"]
        return index


_TMP = ".tmp"
_STALE_AFTER_S = 600  # leftovers of a killed save older than this are swept by the next save


def _referenced_counts(folder: Path) -> str | None:
    try:
        name = json.loads((folder / "meta.json").read_text()).get("counts", "counts.npz")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and Path(name).name == name else None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _sweep(folder: Path, keep: str) -> None:
    """Delete what killed saves left behind (temp files, matrices no meta.json names).
    Only old ones: a file a concurrent save is writing right now is young."""
    now = time.time()
    for path in folder.iterdir():
        name = path.name
        leftover = name.endswith(_TMP) or (name.startswith("counts") and name.endswith(".npz"))
        if not leftover or name == keep:
            continue
        try:
            if now - path.stat().st_mtime > _STALE_AFTER_S:
                path.unlink()
        except OSError:
            pass
