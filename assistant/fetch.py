"""Fetching what the user names by URL, with httpx. Nothing is fetched otherwise.

One GET per URL, bounded every way a server can misbehave:

- a timeout per connect and per read (``request_timeout_s``), and a deadline on the
  whole body (four times that), so a server dripping bytes cannot hold an ingest;
- at most ``MAX_BYTES`` of body (the same 20 MB as a file), counted as it arrives,
  after decompression, and refused up front when ``Content-Length`` says more;
- at most ``MAX_REDIRECTS`` redirects (a redirect loop ends there);
- only a web page, an RSS or Atom feed, or a PDF (by ``Content-Type``; sniffed when the
  server sends none);
- an HTTP error status is the reason given.

Every failure is a :class:`FetchError` whose reason is the one line a user reads. A
re-fetch sends the ``ETag`` / ``Last-Modified`` the last one got; "304 Not Modified"
comes back as ``Fetched.not_modified``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from . import __version__
from .errors import LoaderError

__all__ = ["Fetcher", "Fetched", "FetchError", "is_url", "MAX_BYTES", "MAX_REDIRECTS"]

MAX_BYTES = 20_000_000
MAX_REDIRECTS = 5
_DEADLINE_FACTOR = 4
_KINDS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/rss+xml": "feed",
    "application/atom+xml": "feed",
    "application/rdf+xml": "feed",
    "application/xml": "feed",
    "text/xml": "feed",
    "application/pdf": "pdf",
}
_ACCEPT = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,application/xml;q=0.9,"
    "application/pdf;q=0.8"
)
_EXPECTED = "expected a web page, an RSS or Atom feed, or a PDF"


class FetchError(LoaderError):
    """A URL could not be fetched; ``reason`` says why in one line."""


@dataclass(frozen=True)
class Fetched:
    url: str  # as asked for
    final_url: str  # after redirects
    kind: str | None  # "html", "feed" or "pdf"; None when not modified
    data: bytes = b""
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


def is_url(value: object) -> bool:
    return isinstance(value, str) and value[:8].lower().startswith(("http://", "https://"))


class Fetcher:
    """One HTTP client for a run (connections are reused between its requests)."""

    def __init__(
        self, timeout_s: float = 20.0, max_bytes: int = MAX_BYTES, max_redirects: int = MAX_REDIRECTS
    ):
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=True,
            max_redirects=max_redirects,
            headers={"User-Agent": f"assistant/{__version__} (news reader)", "Accept": _ACCEPT},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET ``url`` (conditionally, given a validator), or raise ``FetchError``."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                return self._read(url, response)
        except FetchError:
            raise
        except httpx.TooManyRedirects:
            raise FetchError(url, f"too many redirects (more than {self.max_redirects})") from None
        except httpx.TimeoutException as exc:
            raise FetchError(url, f"timed out ({_timeout_kind(exc)}, after {self.timeout_s:g} s)") from None
        except httpx.UnsupportedProtocol:
            raise FetchError(url, "not an http:// or https:// URL") from None
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"not a valid URL ({exc})") from None
        except httpx.ConnectError as exc:
            raise FetchError(url, f"cannot connect ({_first_line(exc) or 'connection refused'})") from None
        except httpx.HTTPError as exc:  # the connection broke, a malformed response...
            raise FetchError(url, f"the download failed ({type(exc).__name__}: {_first_line(exc)})") from None

    def _read(self, url: str, response: httpx.Response) -> Fetched:
        validators = {
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
        }
        final = str(response.url)
        if response.status_code == 304:
            return Fetched(url, final, None, not_modified=True, **validators)
        if response.status_code >= 400 or response.status_code < 200:
            raise FetchError(url, f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
        kind = _kind(response.headers.get("content-type"))
        if kind is None:  # refused before its body is read: no need to download a video
            shown = response.headers["content-type"].split(";")[0].strip()
            raise FetchError(url, f"unsupported content type '{shown}' ({_EXPECTED})")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(url, _too_large(int(declared), self.max_bytes))
        data = self._body(url, response)
        sniffed = _sniff(data)
        if kind == "unknown":
            if sniffed is None:
                raise FetchError(url, f"no content type, and the body is not one ({_EXPECTED})")
            kind = sniffed
        elif kind == "html" and sniffed == "feed":  # feeds served as text/html exist
            kind = "feed"
        return Fetched(url, final, kind, data, response.charset_encoding, **validators)

    def _body(self, url: str, response: httpx.Response) -> bytes:
        deadline = time.monotonic() + _DEADLINE_FACTOR * self.timeout_s
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(url, _too_large(size, self.max_bytes, at_least=True))
            if time.monotonic() > deadline:
                raise FetchError(
                    url, f"timed out (the body took more than {_DEADLINE_FACTOR * self.timeout_s:g} s)"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _kind(content_type: str | None) -> str | None:
    """html / feed / pdf from a Content-Type; "unknown" when it says nothing useful
    (missing, or octet-stream), None when it names something else."""
    if not content_type:
        return "unknown"
    media = content_type.split(";")[0].strip().lower()
    if media in ("", "application/octet-stream", "binary/octet-stream"):
        return "unknown"
    return _KINDS.get(media) or ("feed" if media.endswith("+xml") and "svg" not in media else None)


def _sniff(data: bytes) -> str | None:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf-"):
        return "pdf"
    if head.startswith(b"<?xml") or head.startswith((b"<rss", b"<feed", b"<rdf:rdf")):
        if any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf")):
            return "feed"
        return "html" if b"<html" in head else "feed"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "html"
    return None


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    if at_least:
        return f"too large (more than the limit of {limit / 1e6:g} MB)"
    return f"too large ({size / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB)"


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "no connection"
    if isinstance(exc, httpx.ReadTimeout):
        return "no response"
    return "the server was too slow"


def _first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
