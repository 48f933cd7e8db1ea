"""A small web server on 127.0.0.1 for the URL-ingest tests: real sockets, pages that
misbehave on request.

    with WebServer() as web:
        web.route("/a", body=b"<html>...", etag='"v1"')
        web.route("/loop", redirect="/loop")
        fetch(web.url("/a"))
        assert web.requests[-1].headers.get("if-none-match") == '"v1"'

A route answers with its status, content type, body and headers; with ``etag`` or
``last_modified`` it answers "304 Not Modified" to a request that sends them back;
``redirect`` answers 302 to that location; ``hang`` never answers; ``drip`` sends the body
a few bytes at a time, that many seconds apart. Unknown paths are 404.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    redirect: str | None = None
    hang: bool = False
    drip: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]


class WebServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self.port = 0

    def route(self, path: str, body: bytes | str = b"", **options) -> Route:
        route = Route(body=body.encode() if isinstance(body, str) else body, **options)
        self.routes[path] = route
        return route

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def start(self) -> "WebServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._httpd.web = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        web: WebServer = self.server.web  # type: ignore[attr-defined]
        web.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = web.routes.get(self.path)
        if route is None:
            return self._send(404, b"not found", "text/plain")
        if route.hang:
            web.stopping.wait(120)
            self.close_connection = True
            return None
        if route.redirect:
            return self._send(302, b"", None, {"Location": route.redirect})
        if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
            route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
        ):
            return self._send(304, b"", None, self._validators(route), body_allowed=False)
        headers = {**self._validators(route), **route.headers}
        if route.drip is not None:
            return self._drip(route, headers)
        return self._send(route.status, route.body, route.content_type, headers)

    @staticmethod
    def _validators(route: Route) -> dict[str, str]:
        found = {"ETag": route.etag, "Last-Modified": route.last_modified}
        return {k: v for k, v in found.items() if v}

    def _send(self, status, body, content_type, headers=None, body_allowed=True):
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if body_allowed and "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body_allowed:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drip(self, route: Route, headers):
        """The body in 16-byte chunks (chunked encoding), ``drip`` seconds apart."""
        try:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type or "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for start in range(0, len(route.body), 16):
                piece = route.body[start : start + 16]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                if self.server.web.stopping.wait(route.drip):  # type: ignore[attr-defined]
                    break
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


if __name__ == "__main__":  # a quick look: python -m tests.web_server
    with WebServer() as server:
        server.route("/", "<html><body><p>Hello.</p></body></html>")
        print(server.url("/"))
        time.sleep(3600)
