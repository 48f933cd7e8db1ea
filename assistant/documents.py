"""Turn files on disk into :class:`~assistant.models.Article` objects.

Supported inputs are plain text, Markdown, HTML and JSON / JSON Lines feeds. Every
loader produces the same canonical ``Article.text`` for the same bytes, because passage
offsets computed later index into that exact string.

Text a reader never sees is not article text: hidden HTML (comments, scripts,
``display:none`` and the like, elements a stylesheet hides), invisible characters
(zero-width, bidi controls), and lines addressed to the AI model reading the article
rather than to its readers (prompt injection: "ignore previous instructions", fake system
or chat-template messages, fake passage delimiters and citation markers, fake "Sources:"
lists). They are removed before ``Article.text`` is fixed, so passage offsets stay exact.

A file that cannot be used at all raises a :class:`~assistant.errors.LoaderError`
subclass whose message is the one line a user should read. A feed in which only some
records are bad still loads; the skipped records are listed in ``LoadResult.problems``.

Input limits, so memory and time stay bounded whatever the input:

- A file over ``MAX_FILE_BYTES`` (20 MB) is skipped unread: "too large (52.4 MB; the
  limit is 20 MB): split it into smaller files". Loading and chunking stay linear (50
  MB: 3-8 s to load, 0.3 GB, 0.5 GB for an HTML tree; ~15 s to chunk), but ingest embeds
  an article's passages as one batch, and a 50 MB article is some 72,000 passages: it
  ran 26 minutes at 1.6 GB without storing anything. News articles and feeds are far
  below the limit.
- Titles and bylines are cut to a few hundred characters (a 5 MB first line is not a
  title, and every passage carries both), and an absurdly long url is dropped.
- Deeply nested HTML (100,000 unclosed tags) is walked iteratively, never recursively,
  and no step is quadratic in the depth; a RecursionError from the parser is reported
  as a malformed file, not raised.
- Bytes are decoded leniently: UTF-8, UTF-16 with or without a BOM, a file mixing UTF-8
  and cp1252 lines decodes line by line, and NUL (raw in a file: binary; escaped in JSON
  as ``\u0000``) never reaches ``Article.text``.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import stat
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Iterable, NamedTuple

from bs4 import BeautifulSoup, ParserRejectedMarkup
from bs4.element import NavigableString, PreformattedString, Tag

from .errors import BinaryFile, EmptyArticle, LoaderError, MalformedFile, UnsupportedFile
from .invisible import LAYOUT_CONTROLS
from .models import Article

__all__ = ["SUPPORTED_SUFFIXES", "LoadResult", "load_file", "discover"]

# Larger files are skipped with a clear reason (see the module docstring).
MAX_FILE_BYTES = 20_000_000

# Listed in this order in user-facing messages (a frozenset has no stable order).
_SUFFIX_ORDER = (".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl")
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_SUFFIX_ORDER)
_SUFFIX_LIST = ", ".join(_SUFFIX_ORDER)


@dataclass(frozen=True)
class LoadResult:
    """The articles of one file, plus why individual feed records were skipped."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- discovery


def discover(paths: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the files to load, and report unusable paths.

    Folders are walked recursively in sorted order; hidden entries are skipped silently,
    files with an unsupported suffix are reported (so nobody wonders why a PDF never
    answered). A file named explicitly is always returned, so ``load_file`` can say why
    it fails.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        found, path_problems = _expand(path)
        problems.extend(path_problems)
        for file in found:
            # The same file reachable twice (named and inside a named folder) loads once.
            key = _identity_key(file)
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems


def _expand(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files one named path stands for, and (path, reason) for what cannot be used."""
    try:
        if path.is_dir():
            found, unsupported = _files_in_folder(path)
            problems = [(str(f), _unsupported_reason(f)) for f in unsupported]
            if not found:
                problems.append((str(path), f"no supported files in folder ({_SUFFIX_LIST})"))
            return found, problems
        if path.exists() or path.is_symlink():
            return [path], []  # broken symlinks too: load_file says what is wrong
    except OSError as exc:  # e.g. a parent folder we may not enter
        return [], [(str(path), exc.strerror or str(exc))]
    except ValueError:  # a NUL character in the name
        return [], [(str(path), "invalid path")]
    return [], [(str(path), "no such file or directory")]


def _is_regular_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _files_in_folder(folder: Path) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    unsupported: list[Path] = []
    # os.walk does not follow directory symlinks, so a link loop cannot hang us, and it
    # ignores folders it cannot read instead of failing the whole run.
    for current, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            candidate = Path(current) / name
            if name.startswith(".") or not _is_regular_file(candidate):  # skips sockets, fifos, broken links
                continue
            if candidate.suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(candidate)
            else:
                unsupported.append(candidate)
    return sorted(found), sorted(unsupported)


def _unsupported_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    shown = f"'{suffix}'" if suffix else "(no extension)"
    return f"unsupported file type {shown} (supported: {_SUFFIX_LIST})"


def _identity_key(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # RuntimeError: symlink loop on Python < 3.13
        return str(path.absolute())


# --------------------------------------------------------------------------- loading


def load_file(path: Path) -> LoadResult:
    """Load one file into articles, or raise a ``LoaderError`` saying why it cannot be."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFile(str(path), _unsupported_reason(path))
    data = _read_bytes(path)
    text = _normalise(_decode(path, data))
    if not text.strip():
        raise EmptyArticle(str(path), "empty file" if not data else "file contains only whitespace")
    resolved = _resolve(path)
    return _LOADERS[suffix](path, resolved, text)


def _read_bytes(path: Path) -> bytes:
    try:
        # Refuse fifos and devices before opening them: reading one could block forever.
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise LoaderError(str(path), "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise LoaderError(str(path), "not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise LoaderError(str(path), _too_large(info.st_size))
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # never more, even if the file grew
            if len(data) > MAX_FILE_BYTES:
                raise LoaderError(str(path), _too_large(os.fstat(handle.fileno()).st_size))
        return data
    except OSError as exc:
        raise LoaderError(str(path), exc.strerror or str(exc)) from None
    except ValueError:  # a NUL character in the name
        raise LoaderError(str(path), "invalid path") from None


def _too_large(size: int) -> str:
    return f"too large ({size / 1e6:.1f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB): split it into smaller files"


def _resolve(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError) as exc:
        raise LoaderError(str(path), f"cannot resolve path ({exc})") from None


# --------------------------------------------------------------------------- decoding

_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
_SNIFF_SIZE = 8192
_MAX_CONTROL_RATIO = 0.10
_ALLOWED_CONTROLS = "\t\n\r\f"
_ALLOWED_CONTROL_BYTES = frozenset(_ALLOWED_CONTROLS.encode("ascii"))


def _decode(path: Path, data: bytes) -> str:
    """Bytes -> str, refusing binary content.

    UTF-8 is tried first (it almost never decodes non-UTF-8 text by accident), then
    UTF-16 when a BOM (or, without one, the NUL in every other byte) says so. Anything
    else is decoded line by line: UTF-8 where a line is valid UTF-8 (a file pasted
    together from two sources), else cp1252 (what "ANSI" text on Windows usually is),
    else latin-1, which accepts any byte. The leading BOM is kept so that
    ``_normalise`` strips it the same way for every encoding.
    """
    bom_encoding = next((enc for bom, enc in _UTF16_BOMS.items() if data.startswith(bom)), None)
    bom_encoding = bom_encoding or _utf16_without_bom(data)
    # UTF-16 text is full of NUL bytes, so the byte sniff only applies without its BOM.
    # It is a cheap early exit; the check on the decoded text below is the one that counts.
    if bom_encoding is None and _bytes_look_binary(data):
        raise BinaryFile(str(path), "binary file, not text")
    text = None
    # UTF-16 first: its NUL bytes are valid UTF-8 (and a BOM never is).
    for encoding in ([bom_encoding] if bom_encoding else []) + ["utf-8"]:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        text = "\n".join(_decode_line(line) for line in data.split(b"\n"))
    if _text_looks_binary(text):
        raise BinaryFile(str(path), "binary file, not text")
    return text


def _decode_line(line: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return line.decode(encoding)
        except UnicodeDecodeError:
            continue
    return line.decode("latin-1")


def _utf16_without_bom(data: bytes) -> str | None:
    """The UTF-16 variant of text saved without a BOM, recognised by what mostly-ASCII
    UTF-16 looks like: a NUL in (almost) every high byte and none in the low bytes."""
    sample = data[:_SNIFF_SIZE]
    if len(data) % 2 or len(sample) < 32:  # short files: too little evidence
        return None
    low_nuls, high_nuls = sample[0::2].count(0), sample[1::2].count(0)
    pairs = len(sample) // 2
    if high_nuls >= 0.7 * pairs and low_nuls == 0:
        return "utf-16-le"
    if low_nuls >= 0.7 * pairs and high_nuls == 0:
        return "utf-16-be"
    return None


def _bytes_look_binary(data: bytes) -> bool:
    if b"\x00" in data:  # anywhere: text files never hold NUL
        return True
    sample = data[:_SNIFF_SIZE]
    controls = sum(1 for b in sample if (b < 0x20 and b not in _ALLOWED_CONTROL_BYTES) or b == 0x7F)
    return bool(sample) and controls / len(sample) > _MAX_CONTROL_RATIO


def _text_looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:_SNIFF_SIZE]
    controls = sum(1 for c in sample if c not in _ALLOWED_CONTROLS and unicodedata.category(c) == "Cc")
    return bool(sample) and controls / len(sample) > _MAX_CONTROL_RATIO


def _normalise(text: str) -> str:
    """The canonical form every ``Article.text`` is in: no BOM, no invisible characters
    (zero-width, bidi controls), ``\\n`` line ends, no trailing whitespace. Leading
    whitespace is kept: the text is the file content."""
    # "ig\u200bnore" must read as "ignore" to everything downstream; soft hyphens are
    # typography and stay (the injection check reads past them)
    text = LAYOUT_CONTROLS.sub("", _scrub_surrogates(text.removeprefix("\ufeff")))
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


_SOFT_HYPHEN = "\u00ad"


_LONE_SURROGATE = re.compile("[\x00\ud800-\udfff]")


def _scrub_surrogates(value: str) -> str:
    # JSON may escape half a surrogate pair ("\\ud800"); such a string cannot be
    # encoded as UTF-8 by later stages, so it becomes U+FFFD here. So does an escaped
    # NUL ("\\u0000"), as HTML's &#0; does: text never holds one.
    return _LONE_SURROGATE.sub("\ufffd", value)


# --------------------------------------------------------------------------- shared helpers


def _collapse(value: str) -> str:
    """One line, single spaces: how titles and HTML blocks are shown."""
    return " ".join(value.split())


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        if line.strip():
            return _collapse(line)
    return ""


def _optional_str(value: object) -> str | None:
    """A metadata value as a clean string, or None when absent, blank or not a string."""
    if not isinstance(value, str):
        return None
    value = _collapse(LAYOUT_CONTROLS.sub("", _scrub_surrogates(value)))
    return value or None


def _hash16(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


_MAX_TITLE_CHARS = 300
_MAX_AUTHOR_CHARS = 200
_MAX_URL_CHARS = 2000


def _shorten(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` characters, at a space when one is near, with "…"."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _make_article(
    *,
    identity: str,
    resolved: str,
    title: str,
    text: str,
    fallback_source: str,
    url: str | None = None,
    published: str | None = None,
    author: str | None = None,
) -> Article:
    # Every passage carries these fields: a 5 MB first line must not become a 5 MB title.
    title = _shorten(title, _MAX_TITLE_CHARS)
    author = _shorten(author, _MAX_AUTHOR_CHARS) if author else author
    url = url if url is None or len(url) <= _MAX_URL_CHARS else None  # a cut url is a wrong one
    # The hash covers everything a reader sees, so any edit marks the article as changed.
    content = "\x1f".join([title, text, url or "", published or "", author or ""])
    return Article(
        article_id=_hash16(identity),
        title=title,
        text=text,
        source=url or fallback_source,
        path=resolved,
        content_hash=_hash16(content),
        url=url,
        published=published,
        author=author,
    )


# --------------------------------------------------------------------------- dates

_DATE_PREFIX = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")


def _parse_date(value: object) -> str | None:
    """Normalise a publication date to ``YYYY-MM-DD``; None when it cannot be read.

    A bad date never fails an article: it is optional metadata. The date is taken as
    written (no time-zone conversion), which is the day the publisher meant.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    for parse in (_parse_iso, _parse_rfc2822, _parse_date_prefix):
        parsed = parse(value)
        if parsed is not None:
            return parsed.isoformat()
    return None


def _parse_iso(value: str) -> date | None:
    try:
        return datetime.fromisoformat(value).date()  # 3.11+: accepts "Z" and offsets
    except ValueError:
        return None


def _parse_rfc2822(value: str) -> date | None:
    try:
        return parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _parse_date_prefix(value: str) -> date | None:
    # e.g. "2024-11-05 10:00 UTC" or "2024/11/05", which fromisoformat rejects.
    match = _DATE_PREFIX.match(value)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def _first_date(candidates: Iterable[object]) -> str | None:
    for candidate in candidates:
        parsed = _parse_date(candidate)
        if parsed:
            return parsed
    return None


# --------------------------------------------------------------------------- prompt injection

# Tokens that structure a prompt, never a news story: chat-template turns and our own
# passage delimiters. A line holding one is dropped, and so is everything between an
# opening one and its closing one (the injected "turn" or "passage").
_OPENERS = r"<\|im_start\|>|<\|(?:system|user|assistant)\|>|\[INST\]|<<SYS>>|<\s*passage\b"
_CLOSERS = r"<\|im_end\|>|<\|(?:eot_id|end|endoftext)\|>|\[/INST\]|<</SYS>>|<\s*/\s*passage\b"
_STRUCTURAL = re.compile(rf"{_OPENERS}|{_CLOSERS}|<\|[a-z_]{{2,20}}\|>|</?\s*passage\b", re.IGNORECASE)
_TURN = re.compile(f"(?P<open>{_OPENERS})|(?P<close>{_CLOSERS})", re.IGNORECASE)
# A sentence that speaks to the model reading the article rather than to its readers: a
# role label opening it, an order to drop earlier instructions or the question, a request
# for the system prompt, a note to AI models. Kept narrow: ordinary news text ("the firm
# ignored the rules", "a note to his assistant") never matches.
_ADDRESSED_TO_MODEL = re.compile(
    r"^\W*(?:system|assistant|user|human)\s*:"
    r"|^\W*(?:assistant|chatbot)\s*,"
    r"|\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|the|your|my|these|those)\s+)*"
    r"(?:(?:previous|prior|above|earlier|preceding|foregoing|original|other)\s+)+"
    r"(?:instructions?|prompts?|rules|directions|guidelines|questions?|passages?|context|messages?)\b"
    r"|\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:your|my)\s+(?:instructions?|prompt|rules)\b"
    r"|\bdisregard\s+the\s+question\b|\bthe\s+question\s+you\s+were\s+(?:asked|given)\b"
    r"|\banswer\s+(?:this|the\s+following|another)\s+question\s+instead\b"
    r"|\b(?:print|reveal|repeat|show|output|display|leak|write\s+out)\s+(?:your|the|its)\s+"
    r"(?:(?:full|entire|complete|original|hidden|initial)\s+)*(?:system\s+)?(?:prompt|instructions)\b"
    r"|^\W*(?:begin|end)\s+(?:of\s+)?(?:the\s+)?system\s+(?:message|prompt)\b"
    r"|^\W*(?:important\s+)?(?:note|message|instructions?|reminder|attention)\b[^:\n]{0,60}"
    r"\b(?:ai|llms?|chatbots?|language\s+models?|ai\s+models?|ai\s+assistants?)\b[^:\n]{0,60}:",
    re.IGNORECASE,
)
# Citation markers in the shapes the answer parser reads ([1], [1-3], [Passage 2],
# [source 1]), full-width look-alikes (【1】), and markers written out ("according to
# passage 2"). A news article never carries them: in one, they are forged citations.
_FORGED_MARKER = re.compile(
    r"[\[【［〔]\s*(?:(?:passage|source|doc(?:ument)?|ref)\s*)?\d{1,3}"
    r"(?:\s*(?:[,;–-]|and)\s*(?:(?:passage|source)\s*)?\d{1,3})*\s*[\]】］〕]"
    r"|\b(?:according\s+to|see|as\s+stated\s+in|cited?\s+(?:it|this|them)\s+as)\s+(?:the\s+)?passages?\s+\d{1,3}\b",
    re.IGNORECASE,
)
_SOURCES_HEADING = re.compile(r"^\W*(?:sources?|references?|citations?)\s*:?\s*$", re.IGNORECASE)
# A line longer than this is a block the markup did not split into paragraphs (a whole
# page in one <div>): only the injected sentences go, not the whole block.
_LONG_LINE = 1000
# A line holding none of these (lowercased) cannot match the two patterns above: the cheap
# test that spares ordinary lines the regexes and the sentence split (5 MB in a fraction
# of a second instead of seconds).
_TRIGGERS = (
    "[", "【", "［", "〔", "passage", "system", "assistant", "user", "human", "chatbot", "ignore", "disregard",
    "forget", "override", "question", "prompt", "instruction", "note", "message", "reminder", "attention",
)  # fmt: skip
# Where an injection starts inside a title (one line: no sentence anchors).
_TITLE_INJECTION = re.compile(
    rf"{_STRUCTURAL.pattern}|{_ADDRESSED_TO_MODEL.pattern}|{_FORGED_MARKER.pattern}|\b(?:system|assistant|user)\s*:",
    re.IGNORECASE,
)


def _inside_after(line: str, inside: bool) -> bool:
    """Whether an injected turn or passage is still open after ``line``."""
    for match in _TURN.finditer(line):
        inside = match.group("open") is not None
    return inside


def _clean_line(line: str) -> str | None:
    """The line without injected text: None when it must go whole, else what is kept."""
    from .chunking import split_sentences

    lowered = line.replace(_SOFT_HYPHEN, "").lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return line
    sentences = split_sentences(line)
    seen = [line[a:b].replace(_SOFT_HYPHEN, "") for a, b in sentences]
    addressed = next((a for (a, _), text in zip(sentences, seen) if _ADDRESSED_TO_MODEL.search(text)), None)
    forged = [span for span, text in zip(sentences, seen) if _FORGED_MARKER.search(text)]
    if addressed is None and not forged:
        return line
    if len(line) <= _LONG_LINE:
        return None  # a paragraph holding an injection is the injection's paragraph
    end = len(line) if addressed is None else addressed  # an address to the model runs to the end of its block
    kept = [line[a:b] for a, b in sentences if b <= end and (a, b) not in forged]
    return line[: len(line) - len(line.lstrip())] + " ".join(kept) if kept else None


def _without_injections(text: str) -> str:
    """``text`` without what is addressed to an AI model rather than to readers: lines
    holding a chat-template token or one of our passage delimiters, and everything
    between an opening one and its closing one; paragraphs (lines) holding a sentence
    that speaks to the model or a forged citation marker; a "Sources:" heading over
    such lines. Untouched lines stay byte for byte."""
    lines = text.split("\n")
    kept: list[str | None] = []
    inside = False  # within a turn or passage the injection opened
    for line in lines:
        seen = line.replace(_SOFT_HYPHEN, "")
        if inside or _STRUCTURAL.search(seen):
            inside = _inside_after(seen, inside)
            kept.append(None)
        else:
            kept.append(_clean_line(line) if line.strip() else line)
    for i, line in enumerate(lines):
        following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
        if kept[i] is not None and _SOURCES_HEADING.match(line) and following is not None and kept[following] is None:
            kept[i] = None
    if kept == lines:
        return text
    return "\n".join(line for line in kept if line is not None).rstrip()


def _clean_title(title: str | None) -> str | None:
    """A title cut where an injection starts in it; None when nothing is left."""
    if not title:
        return title
    match = _TITLE_INJECTION.search(title.replace(_SOFT_HYPHEN, ""))
    if match:
        title = _collapse(title.replace(_SOFT_HYPHEN, "")[: match.start()]).rstrip(" -–—|:;,")
    return title or None


_ONLY_INJECTED = "only text addressed to an AI model (prompt injection)"


# --------------------------------------------------------------------------- plain text


def _load_txt(path: Path, resolved: str, text: str) -> LoadResult:
    text = _without_injections(text)
    if not text.strip():
        raise EmptyArticle(str(path), _ONLY_INJECTED)
    article = _make_article(
        identity=resolved, resolved=resolved, title=_first_line(text), text=text, fallback_source=path.name
    )
    return LoadResult([article])


# --------------------------------------------------------------------------- markdown

_FRONT_MATTER_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:(.*)$")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _load_markdown(path: Path, resolved: str, text: str) -> LoadResult:
    meta, body = _split_front_matter(text)
    if not body.strip():
        raise EmptyArticle(str(path), "no text after the front matter")
    body = _without_injections(body)
    if not body.strip():
        raise EmptyArticle(str(path), _ONLY_INJECTED)
    title = _clean_title(_optional_str(meta.get("title"))) or _markdown_title(body)
    article = _make_article(
        identity=resolved,
        resolved=resolved,
        title=title,
        text=body,
        fallback_source=path.name,
        url=_optional_str(meta.get("url")),
        published=_first_date([meta.get("date"), meta.get("published")]),
        author=_optional_str(meta.get("author")),
    )
    return LoadResult([article])


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a ``---`` delimited block of ``key: value`` lines off the top.

    A Markdown file may also begin with a horizontal rule, so the block only counts when
    it is closed and holds at least one ``key: value`` line.
    """
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return {}, text
    meta: dict[str, str] = {}
    for index in range(1, len(lines)):
        line = lines[index]
        if line.rstrip() in ("---", "..."):
            if not meta:
                return {}, text
            body = "\n".join(lines[index + 1 :])
            # Blank lines between the block and the content are not part of the article.
            return meta, re.sub(r"\A(?:[ \t]*\n)+", "", body).rstrip()
        match = _FRONT_MATTER_KEY.match(line)
        if match:
            meta.setdefault(match.group(1).lower(), _unquote(match.group(2).strip()))
    return {}, text  # never closed: an ordinary rule, not front matter


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _markdown_title(body: str) -> str:
    """First level-1 heading outside code fences, else the first non-empty line."""
    in_fence = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence  # a "# comment" in a code block is not a heading
            continue
        match = None if in_fence else _ATX_HEADING.match(line)
        if match and len(match.group(1)) == 1 and match.group(2).strip():
            return _collapse(match.group(2))
    first = _first_line(body)
    match = _ATX_HEADING.match(first)
    return _collapse(match.group(2)) if match and match.group(2).strip() else first


# --------------------------------------------------------------------------- HTML

# Page furniture and non-content elements: their text is never article text.
_DROPPED_TAGS = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "iframe", "svg", "button", "select", "textarea", "canvas", "object", "embed",
    "audio", "video",
)  # fmt: skip
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Elements whose text becomes a line of its own.
_TEXT_BLOCKS = frozenset(_HEADINGS + ("p", "li", "blockquote", "pre", "td", "th", "dt", "dd", "figcaption"))
# Structural elements: they never share a line with the text around them.
_CONTAINERS = frozenset((
    "html", "body", "main", "article", "section", "div", "ul", "ol", "dl", "table", "thead",
    "tbody", "tfoot", "tr", "caption", "figure", "address", "details", "summary", "hr",
    "center", "fieldset", "legend", "hgroup",
))  # fmt: skip
_BOUNDARIES = _TEXT_BLOCKS | _CONTAINERS
_PUBLISHED_META = (("property", "article:published_time"), ("name", "date"), ("itemprop", "datepublished"))


class _HtmlMeta(NamedTuple):
    title: str | None
    url: str | None
    published: str | None
    author: str | None


def _load_html(path: Path, resolved: str, text: str) -> LoadResult:
    try:
        soup = _parse_html(text)
        meta = _html_metadata(soup)
        _remove_noise(soup, _stylesheet_hidden(soup))
        body = _normalise("\n".join(_block_lines(_content_root(soup))))
    except (ParserRejectedMarkup, RecursionError, AssertionError) as exc:
        # html.parser tolerates almost anything; these are the rare refusals.
        raise MalformedFile(str(path), f"HTML could not be parsed ({type(exc).__name__})") from None
    if not body:
        raise EmptyArticle(str(path), "no text after HTML cleaning")
    body = _without_injections(body)
    if not body:
        raise EmptyArticle(str(path), _ONLY_INJECTED)
    article = _make_article(
        identity=resolved,
        resolved=resolved,
        title=_clean_title(meta.title) or _first_line(body),
        text=body,
        fallback_source=path.name,
        url=meta.url,
        published=meta.published,
        author=meta.author,
    )
    return LoadResult([article])


def _parse_html(text: str) -> BeautifulSoup:
    # bs4 warns when markup looks like a URL or XML; for a file we asked to read as
    # HTML that is noise, and a warnings-as-errors setting must not turn it into a crash.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BeautifulSoup(text, "html.parser")


def _clean_inline(value: str) -> str:
    return _collapse(LAYOUT_CONTROLS.sub("", value))


def _own_text(tag: Tag) -> str:
    # Only the tag's direct strings: an unclosed <title> swallows the rest of the page.
    return _clean_inline("".join(s for s in tag.children if _is_text_node(s)))


def _html_metadata(soup: BeautifulSoup) -> _HtmlMeta:
    """Read title, url, date and author before cleaning removes <head> furniture."""
    url = _canonical_link(soup) or _meta_content(soup, "property", "og:url")
    dates = [_meta_content(soup, attr, key) for attr, key in _PUBLISHED_META]
    dates += [tag.get("datetime") for tag in soup.find_all("time") if tag.get("datetime")]
    return _HtmlMeta(_html_title(soup), url, _first_date(dates), _meta_content(soup, "name", "author"))


def _html_title(soup: BeautifulSoup) -> str | None:
    """<title>, else the first <h1> (read before cleaning: it is often in a <header>).

    No per-tag walk up or down the tree: on 20,000 nested tags that is quadratic. An
    <h1> inside another has text only if the outer one has, so the outer ones suffice.
    """
    # An svg's title labels an icon.
    in_svg = {id(t) for svg in _outermost(soup, "svg") for t in svg.find_all("title")}
    for tag in soup.find_all("title"):
        title = "" if id(tag) in in_svg else _own_text(tag)
        if title:
            return title
    for heading in _outermost(soup, "h1"):
        title = _clean_inline(heading.get_text(" "))
        if title:
            return title
    return None


def _canonical_link(soup: BeautifulSoup) -> str | None:
    for link in soup.find_all("link"):
        rel = link.get("rel") or []
        rels = rel.split() if isinstance(rel, str) else rel
        if any(r.lower() == "canonical" for r in rels):
            href = _optional_str(link.get("href"))
            if href:
                return href
    return None


def _meta_content(soup: BeautifulSoup, attr: str, key: str) -> str | None:
    for meta in soup.find_all("meta"):
        value = meta.get(attr)
        if isinstance(value, str) and value.strip().lower() == key:
            content = _optional_str(meta.get("content"))
            if content:
                return _clean_inline(content)
    return None


def _remove_noise(soup: BeautifulSoup, hidden_by_css: list[_Selector] = ()) -> None:
    """Delete page furniture, hidden elements and the <title> text.

    Comments need no removal here: the line walk skips every non-text string.

    A hand-rolled walk, not ``find_all``: it never descends into a removed subtree, and
    it avoids bs4 helpers (``find_all(string=...)``, ``Tag.decomposed``) that turn
    quadratic on the deeply nested trees malformed HTML produces.
    """
    pending: list[Tag] = [soup]
    while pending:
        parent = pending.pop()
        for child in list(parent.children):
            if not isinstance(child, Tag):
                continue
            if child.name in _DROPPED_TAGS or _is_hidden(child) or any(_matches(child, sel) for sel in hidden_by_css):
                child.decompose()
                continue
            if child.name == "title":
                _drop_own_text(child)
            pending.append(child)


def _drop_own_text(tag: Tag) -> None:
    # The title is a field of its own; its child tags stay, since a missing </title>
    # makes html.parser nest the rest of the page inside it.
    for child in list(tag.children):
        if isinstance(child, NavigableString):
            child.extract()


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden"):
        return True
    aria = tag.get("aria-hidden")
    if isinstance(aria, str) and aria.strip().lower() == "true":
        return True
    style = tag.get("style")
    return isinstance(style, str) and _style_hides(style)


# Declarations that keep text from being seen: not displayed, invisible, no size, fully
# transparent, moved far off screen, or clipped to nothing (the "visually hidden" pattern).
_HIDING_DECLARATIONS = re.compile(
    r"(?:^|;)(?:display:none|visibility:(?:hidden|collapse)|font-size:0(?:\.0*)?(?:px|em|rem|pt|%)?(?:!important)?(?:;|$)"
    r"|opacity:0(?:\.0*)?(?:!important)?(?:;|$)|color:transparent|(?:left|top|right|text-indent|margin-left|margin-top):-\d{4,}"
    r"|clip:rect\(0|clip-path:inset\(50%)"
)


def _style_hides(style: str) -> bool:
    return bool(_HIDING_DECLARATIONS.search(re.sub(r"\s+", "", style.lower())))


class _Selector(NamedTuple):
    tag: str | None
    classes: frozenset[str]
    id: str | None


_SIMPLE_SELECTOR = re.compile(r"^([a-z][a-z0-9-]*)?((?:[.#][\w-]+)*)$", re.IGNORECASE)


def _stylesheet_hidden(soup: BeautifulSoup) -> list[_Selector]:
    """The simple selectors (``tag``, ``.class``, ``#id``, ``tag.class#id``) that the page's
    own <style> rules hide. Rules inside @media and other at-rules are skipped (a print
    style hides nothing on screen), as are compound selectors the loader cannot match."""
    found: list[_Selector] = []
    for style in soup.find_all("style"):
        css = re.sub(r"/\*.*?\*/", "", style.get_text(), flags=re.DOTALL)
        for prelude, block in _top_level_rules(css):
            if prelude.startswith("@") or not _style_hides(block):
                continue
            for selector in prelude.split(","):
                match = _SIMPLE_SELECTOR.match(selector.strip())
                if not match or not (match.group(1) or match.group(2)):
                    continue
                parts = re.findall(r"([.#])([\w-]+)", match.group(2))
                ids = [name for kind, name in parts if kind == "#"]
                found.append(
                    _Selector(
                        match.group(1).lower() if match.group(1) else None,
                        frozenset(name for kind, name in parts if kind == "."),
                        ids[0] if ids else None,
                    )
                )
    return found


def _top_level_rules(css: str) -> list[tuple[str, str]]:
    """(prelude, block) of each top-level rule; an at-rule's nested rules stay in its block."""
    rules, depth, start, prelude = [], 0, 0, ""
    for i, char in enumerate(css):
        if char == "{":
            if depth == 0:
                prelude, start = css[start:i].strip(), i + 1
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                rules.append((prelude, css[start:i]))
                start = i + 1
        elif char == ";" and depth == 0:  # @import ...; and the like
            start = i + 1
    return rules


def _matches(tag: Tag, selector: _Selector) -> bool:
    if selector.tag and tag.name != selector.tag:
        return False
    if selector.id and tag.get("id") != selector.id:
        return False
    if selector.classes:
        classes = tag.get("class") or []
        classes = classes.split() if isinstance(classes, str) else classes
        if not selector.classes <= set(classes):
            return False
    return True


def _content_root(soup: BeautifulSoup) -> Tag:
    """The element holding the article: the largest <article>, else <main>, else <body>.

    An <article> inside another is never larger than it, and a <main> inside another has
    text only if the outer one has, so only the outermost ones are measured: measuring
    each of 30,000 nested ones would be quadratic.
    """
    articles = sorted(_outermost(soup, "article"), key=lambda t: len(t.get_text(strip=True)), reverse=True)
    candidates = [*articles, *_outermost(soup, "main"), soup.body, soup]
    return next(c for c in candidates if c is not None and (c is soup or c.get_text(strip=True)))


def _outermost(root: Tag, name: str) -> list[Tag]:
    """The ``name`` tags not inside another one, in document order (iteratively)."""
    found: list[Tag] = []
    stack = [iter(root.children)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, Tag):
            if node.name == name:
                found.append(node)
            else:
                stack.append(iter(node.children))
    return found


def _is_text_node(node: object) -> bool:
    # Comments, doctypes, CDATA and processing instructions are not visible text.
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


class _LineBuilder:
    """Collects text into lines, breaking at block boundaries."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._parts: list[str] = []
        self._bullet = False

    def text(self, value: str) -> None:
        self._parts.append(value)

    def open(self, name: str) -> None:
        if name == "br":
            self._parts.append(" ")  # keeps "a<br>b" from reading as "ab"
        elif name in _BOUNDARIES:
            self.flush()
            if name == "li":
                self._bullet = True

    def close(self, name: str) -> None:
        if name in _BOUNDARIES:
            self.flush()
            if name == "li":
                self._bullet = False  # an empty item must not mark the next line

    def flush(self) -> None:
        line = _clean_inline("".join(self._parts))
        self._parts = []
        if line:
            self.lines.append(f"- {line}" if self._bullet else line)
            self._bullet = False  # only the item's first line carries the marker


def _block_lines(root: Tag) -> list[str]:
    """Walk the tree in document order, one line per block.

    Iterative on purpose: malformed HTML with thousands of unclosed tags nests that
    deep, and a recursive walk would hit the recursion limit.
    """
    builder = _LineBuilder()
    stack = [iter(root.children)]
    open_tags: list[str] = []  # names of the tags whose children the stack is walking
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            if open_tags:
                builder.close(open_tags.pop())
        elif isinstance(node, Tag):
            builder.open(node.name)
            stack.append(iter(node.children))
            open_tags.append(node.name)
        elif _is_text_node(node):
            builder.text(str(node))
    builder.flush()
    return builder.lines


# --------------------------------------------------------------------------- JSON feeds


class _Record(NamedTuple):
    label: str  # "item 3" or "line 7": how a problem with it is reported
    value: object


def _load_json(path: Path, resolved: str, text: str) -> LoadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedFile(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, deep nesting
        raise MalformedFile(str(path), f"invalid JSON: {_one_line(exc)}") from None
    return _build_feed(path, resolved, _json_records(path, data), [])


def _json_records(path: Path, data: object) -> list[_Record]:
    if isinstance(data, dict):
        data = _feed_list(path, data)
    if not isinstance(data, list):
        raise MalformedFile(str(path), "expected an article object or a list of them")
    return [_Record(f"item {n}", value) for n, value in enumerate(data, start=1)]


def _feed_list(path: Path, data: dict) -> list:
    """The article list of a feed object; a lone article object is a feed of one."""
    for key in ("articles", "items"):
        if isinstance(data.get(key), list):
            return data[key]
    for key in ("articles", "items"):
        # An article may carry its own "items" field; only complain when it is no article.
        if key in data and "text" not in data and "content" not in data:
            raise MalformedFile(str(path), f"'{key}' must be a list of article objects")
    return [data]


def _load_jsonl(path: Path, resolved: str, text: str) -> LoadResult:
    records: list[_Record] = []
    problems: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_Record(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: invalid JSON ({exc.msg})")
        except (ValueError, RecursionError) as exc:
            problems.append(f"line {number}: invalid JSON ({_one_line(exc)})")
    return _build_feed(path, resolved, records, problems)


def _one_line(exc: BaseException) -> str:
    return _first_line(str(exc)) or type(exc).__name__


class _FeedItem(NamedTuple):
    title: str
    text: str
    url: str | None
    published: str | None
    author: str | None


def _build_feed(path: Path, resolved: str, records: list[_Record], problems: list[str]) -> LoadResult:
    articles: list[Article] = []
    used_ids: set[str] = set()
    for record in records:
        item = _feed_item(record.value)
        if isinstance(item, str):
            problems.append(f"{record.label}: {item}")
            continue
        identity = _unique_identity(f"{resolved}#{item.url or item.title}", used_ids)
        articles.append(
            _make_article(
                identity=identity,
                resolved=resolved,
                title=item.title,
                text=item.text,
                fallback_source=path.name,
                url=item.url,
                published=item.published,
                author=item.author,
            )
        )
    if not articles:
        raise MalformedFile(str(path), problems[0] if problems else "no articles in feed")
    return LoadResult(articles, problems)


def _unique_identity(base: str, used: set[str]) -> str:
    # Repeats get "#2", "#3"... in feed order, so ids stay stable while the feed does.
    identity, n = base, 1
    while identity in used:
        n += 1
        identity = f"{base}#{n}"
    used.add(identity)
    return identity


def _feed_item(value: object) -> _FeedItem | str:
    """A feed record as article fields, or the reason it cannot be one."""
    if not isinstance(value, dict):
        return "not a JSON object"
    raw = value.get("text")
    if not (isinstance(raw, str) and raw.strip()):
        raw = value.get("content")
    if not (isinstance(raw, str) and raw.strip()):
        return "no 'text' or 'content'"
    text = _without_injections(_normalise(raw))
    if not text.strip():
        return _ONLY_INJECTED
    return _FeedItem(
        title=_clean_title(_optional_str(value.get("title"))) or _first_line(text),
        text=text,
        url=_optional_str(value.get("url")),
        published=_first_date([value.get("published"), value.get("date")]),
        author=_optional_str(value.get("author")),
    )


_LOADERS = {
    ".txt": _load_txt,
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".html": _load_html,
    ".htm": _load_html,
    ".json": _load_json,
    ".jsonl": _load_jsonl,
}
