"""The passage store, in four parts, each with one job:

- ``folder``: the index folder on disk, its marker, and the lock that lets one ingest
  write at a time (no Chroma import: cheap to ask whether there is an index);
- ``chroma``: the Chroma client and collection, catching up with other processes'
  writes, and the in-process lock that keeps a reopen from meeting a read;
- ``lexical_side``: the BM25 index kept beside it at the same revision;
- ``passages``: :class:`PassageStore`, the door callers use, with revisioned reads and
  writes over the other three.
"""

from .folder import index_marker_exists
from .passages import PassageStore
from .records import ArticleRecord, SearchFilter, passage_from_record, published_day

__all__ = [
    "PassageStore",
    "ArticleRecord",
    "SearchFilter",
    "published_day",
    "passage_from_record",
    "index_marker_exists",
]
