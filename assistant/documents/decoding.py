"""Bytes -> the canonical text every ``Article.text`` is in."""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from ..errors import BinaryFile
from ..invisible import LAYOUT_CONTROLS

__all__ = ["decode", "normalise", "scrub_surrogates", "SOFT_HYPHEN"]

_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
_SNIFF_SIZE = 8192
_MAX_CONTROL_RATIO = 0.10
_ALLOWED_CONTROLS = "\t\n\r\f"
_ALLOWED_CONTROL_BYTES = frozenset(_ALLOWED_CONTROLS.encode("ascii"))


def decode(path: Path | str, data: bytes) -> str:
    """Bytes -> str, refusing binary content.

    UTF-8 is tried first (it almost never decodes non-UTF-8 text by accident), then
    UTF-16 when a BOM (or, without one, the NUL in every other byte) says so. Anything
    else is decoded line by line: UTF-8 where a line is valid UTF-8 (a file pasted
    together from two sources), else cp1252 (what "ANSI" text on Windows usually is),
    else latin-1, which accepts any byte. The leading BOM is kept so that
    ``normalise`` strips it the same way for every encoding.
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


def normalise(text: str) -> str:
    """The canonical form every ``Article.text`` is in: no BOM, no invisible characters
    (zero-width, bidi controls), ``\\n`` line ends, no trailing whitespace. Leading
    whitespace is kept: the text is the file content."""
    # "ig\u200bnore" must read as "ignore" to everything downstream; soft hyphens are
    # typography and stay (the injection check reads past them)
    text = LAYOUT_CONTROLS.sub("", scrub_surrogates(text.removeprefix("\ufeff")))
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip()


SOFT_HYPHEN = "\u00ad"


_LONE_SURROGATE = re.compile("[\x00\ud800-\udfff]")


def scrub_surrogates(value: str) -> str:
    # JSON may escape half a surrogate pair ("\\ud800"); such a string cannot be
    # encoded as UTF-8 by later stages, so it becomes U+FFFD here. So does an escaped
    # NUL ("\\u0000"), as HTML's &#0; does: text never holds one.
    return _LONE_SURROGATE.sub("\ufffd", value)
