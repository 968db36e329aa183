"""A small threaded HTTP(S) server on 127.0.0.1 with a route table, for fakes of remote services."""

from __future__ import annotations

import json
import ssl
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Send only this many bytes of the body, then drop the connection (a dropped download).
    cut_after: int | None = None

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Response:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
        )


Handler = Callable[[Request], Response]


class FakeServer:
    """``routes[(method, path_prefix)] = handler``; the longest matching prefix wins.

    With ``tls`` (a ``trustme.CA``), it serves HTTPS with a certificate for 127.0.0.1 signed by it.
    ``log`` keeps every request (method, path, headers) for assertions.
    """

    def __init__(self, tls: Any = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.log: list[Request] = []
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = Request(
                    self.command, split.path, parse_qsl(split.query), dict(self.headers), body
                )
                outer.log.append(request)
                handler = outer._route(request)
                response = (
                    handler(request)
                    if handler
                    else Response.json({"errors": [f"no route {request.path}"]}, 404)
                )
                payload = response.body
                if not isinstance(payload, bytes | str):
                    payload = json.dumps(payload).encode()
                if isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(response.status)
                headers = {"Content-Length": str(len(payload)), **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                if response.cut_after is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command == "HEAD":
                    return
                if response.cut_after is not None:
                    self.wfile.write(payload[: response.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_HEAD = do_PUT = do_DELETE = _handle  # noqa: N815

        class _Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # Kept for assertions instead of printed: a client that hangs up mid-response
                # (as the fetcher does after a fault) is expected here.
                outer.errors.append(traceback.format_exc())

        self.errors: list[str] = []
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _route(self, request: Request) -> Handler | None:
        matches = [
            (len(prefix), handler)
            for (method, prefix), handler in self.routes.items()
            if method in (request.method, "*") and request.path.startswith(prefix)
        ]
        return max(matches, key=lambda m: m[0])[1] if matches else None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ca_bundle(ca: Any, folder: Path) -> Path:
    """Write the test CA's certificate as a PEM bundle for requests' ``verify``."""
    path = folder / "fake-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
