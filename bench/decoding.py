"""Hand-written decoding against charset-normalizer, on the bad-input cases of the tests.

The loader's decoder (``assistant.documents.decoding.decode``: UTF-8, UTF-16 by BOM or by
its NUL pattern, else line by line UTF-8 / cp1252 / latin-1) and charset-normalizer
(``from_bytes(data).best()``) each decode the byte strings the tests feed the loader
(cp1252 and latin-1 text, UTF-16 with and without a BOM, UTF-8 and cp1252 lines mixed in
one file, broken bytes, binary files), plus text in other legacy encodings a saved page
can be in. A case counts as right when the text comes out exactly (or, for binary, is
refused; for broken bytes, decodes without U+FFFD or NUL).

    .venv/bin/python bench/decoding.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BINARY = object()  # expected: refused as binary
CLEAN = object()  # expected: decoded without U+FFFD or NUL, text unknown

# (name, bytes, expected) -- the first group restates the tests' inputs.
TEST_CASES = [
    ("cp1252 curly quotes", "Quote Test\n“Hello,” she said — it’s fine.".encode("cp1252"), None),
    ("latin-1 accents", "Café au lait\nà la carte, señor".encode("latin-1"), None),
    (
        "cp1252 news (test_cli)",
        "Café owners “welcome” the new rules.\nThe mayor’s plan passed.".encode("cp1252"),
        None,
    ),
    ("utf-16 with BOM", "Title Ünïcode\r\nBody text.".encode("utf-16"), None),
    ("utf-16-be with BOM", "\ufeffTitle Ünïcode\r\nBody text.".encode("utf-16-be"), None),
    ("utf-16 html", "<title>Wide</title><p>Wide page.</p>".encode("utf-16"), None),
    (
        "utf-16-le without BOM",
        "News headline\nThe port reopened on Monday after repairs.\n".encode("utf-16-le"),
        None,
    ),
    (
        "utf-16-be without BOM",
        "News headline\nThe port reopened on Monday after repairs.\n".encode("utf-16-be"),
        None,
    ),
    (
        "utf-8 and cp1252 lines mixed",
        "Café owners UTF-8 line.\n".encode() + "The mayor’s plan, “quoted”.\n".encode("cp1252"),
        "Café owners UTF-8 line.\nThe mayor’s plan, “quoted”.\n",
    ),
    ("broken bytes", b"Valid start.\nBroken \xff\xfe\xfd bytes \xc3\x28 and \xed\xa0\x80 here.\n", CLEAN),
    ("PNG file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), BINARY),
    ("control bytes", b"\x01\x02\x03\x04 text with many control bytes \x05\x06\x07\x08" * 20, BINARY),
    ("utf-16 holding binary", "\x00\x01\x02".encode("utf-16") * 50, BINARY),
]
# Legacy encodings of other scripts (not in the tests): what a saved page can be in.
OTHER_CASES = [
    ("cp1251 Russian", "Мэр объявил о ремонте порта.\nРаботы завершатся в марте.".encode("cp1251"), None),
    ("shift_jis Japanese", "港は月曜日に再開した。\n修理は三週間かかった。".encode("shift_jis"), None),
    (
        "iso-8859-2 Polish",
        "Burmistrz ogłosił, że port zostanie otwarty.\nŻółć gęślą jaźń.".encode("iso-8859-2"),
        None,
    ),
    ("gb2312 Chinese", "港口周一重新开放。\n维修工作持续了三周。".encode("gb2312"), None),
]


def truth(name: str, data: bytes, expected):
    if expected is not None:
        return expected
    source = {
        "cp1252 curly quotes": "cp1252", "latin-1 accents": "latin-1", "cp1252 news (test_cli)": "cp1252",
        "utf-16 with BOM": "utf-16", "utf-16-be with BOM": "utf-16-be", "utf-16 html": "utf-16",
        "utf-16-le without BOM": "utf-16-le", "utf-16-be without BOM": "utf-16-be",
        "cp1251 Russian": "cp1251", "shift_jis Japanese": "shift_jis", "iso-8859-2 Polish": "iso-8859-2",
        "gb2312 Chinese": "gb2312",
    }[name]  # fmt: skip
    return data.decode(source).removeprefix("\ufeff")


def hand_written(data: bytes):
    from assistant.documents.decoding import decode
    from assistant.errors import BinaryFile

    try:
        return decode(Path("case"), data).removeprefix("\ufeff")
    except BinaryFile:
        return BINARY


def charset_normalizer(data: bytes):
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return BINARY if best is None else str(best).removeprefix("\ufeff")


def right(got, want) -> bool:
    if want is BINARY or got is BINARY:
        return got is want
    if want is CLEAN:
        return "\ufffd" not in got and "\x00" not in got
    return got == want


def run(cases) -> dict[str, list]:
    results = {"hand-written": [], "charset-normalizer": []}
    for name, data, expected in cases:
        want = truth(name, data, expected)
        for label, decoder in (("hand-written", hand_written), ("charset-normalizer", charset_normalizer)):
            started = time.perf_counter()
            got = decoder(data)
            results[label].append((name, right(got, want), time.perf_counter() - started, got))
    return results


def main() -> None:
    hand_written(b"warm"), charset_normalizer(b"warm")  # imports are not decoding time
    for title, cases in (("the tests' bad inputs", TEST_CASES), ("other legacy encodings", OTHER_CASES)):
        results = run(cases)
        print(f"\n{title}: {len(cases)} cases")
        print("| case | hand-written | charset-normalizer |\n|---|---|---|")
        for i, (name, _, _) in enumerate(cases):
            marks = ["right" if results[label][i][1] else "wrong" for label in results]
            print(f"| {name} | {marks[0]} | {marks[1]} |")
        totals = {label: sum(ok for _, ok, _, _ in rows) for label, rows in results.items()}
        times = {label: sum(s for _, _, s, _ in rows) * 1000 for label, rows in results.items()}
        print(
            f"| **right** | **{totals['hand-written']}/{len(cases)}** ({times['hand-written']:.1f} ms) "
            f"| **{totals['charset-normalizer']}/{len(cases)}** ({times['charset-normalizer']:.1f} ms) |"
        )
        for label, rows in results.items():
            for name, ok, _, got in rows:
                if not ok:
                    shown = "refused as binary" if got is BINARY else repr(got[:60])
                    print(f"  {label} on {name}: {shown}")


if __name__ == "__main__":
    main()
