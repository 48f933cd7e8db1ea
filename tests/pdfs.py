"""Small real PDF files for the tests, written byte by byte (no PDF writer needed): pages
of text lines in Helvetica, an optional document title and author, and a copy that
needs a password (pypdf's own encryption)."""

from __future__ import annotations

import io
from pathlib import Path


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(pages: list[list[str]], title: str | None = None, author: str | None = None) -> bytes:
    """A PDF whose page ``n`` shows the lines ``pages[n]`` (an empty list: a page without
    text, as a scan is)."""
    objects: list[bytes] = []  # object n+1 is objects[n]
    kids = []
    font = 3 + 2 * len(pages)
    for n, lines in enumerate(pages):
        page_obj, content_obj = 3 + 2 * n, 4 + 2 * n
        kids.append(f"{page_obj} 0 R")
        ops = "".join(f"({_escape(line)}) Tj 0 -16 Td " for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {ops}ET".encode("latin-1") if lines else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_obj} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    tree = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects = [catalog, tree, *objects, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    info = {"Title": title, "Author": author}
    entries = " ".join(f"/{k} ({_escape(v)})" for k, v in info.items() if v)
    if entries:
        objects.append(f"<< {entries} >>".encode("latin-1"))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    trailer = (
        f"<< /Size {len(objects) + 1} /Root 1 0 R" + (f" /Info {len(objects)} 0 R" if entries else "") + " >>"
    )
    out.write(b"trailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (trailer.encode(), xref))
    return out.getvalue()


def write_pdf(path: Path, pages: list[list[str]], **info) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(pages, **info))
    return path


def locked_copy(source: Path, target: Path, password: str = "secret") -> Path:
    """``source`` encrypted so that it opens only with ``password``."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(password, algorithm="RC4-128")
    with target.open("wb") as handle:
        writer.write(handle)
    return target
