"""A loopback HTTP proxy in front of the moto server that answers chosen operations with AWS's own
AccessDenied error, in each protocol's format. moto grants everything; AWS does not, and the audit's
handling of what it cannot read is what this proxy lets us test."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

_QUERY_ERROR = (
    '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    "<Code>AccessDenied</Code><Message>denied by the test proxy</Message></Error>"
    "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)
_S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
    "<RequestId>0</RequestId></Error>"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str


@dataclass(frozen=True)
class Deny:
    """``protocol`` is ``query`` (IAM, STS), ``s3`` or ``json`` (Lambda, CodeBuild, API Gateway)."""

    protocol: str
    matches: Callable[[Request], bool]


def query_action(action: str) -> Deny:
    return Deny("query", lambda r: f"Action={action}&" in r.body + "&")


def s3_list_buckets() -> Deny:
    return Deny("s3", lambda r: r.method == "GET" and urlparse(r.path).path == "/")


def s3_bucket_policy(bucket: str) -> Deny:
    return Deny(
        "s3",
        lambda r: (
            r.method == "GET"
            and urlparse(r.path).path.strip("/") == bucket
            and "policy" in urlparse(r.path).query.split("&")
        ),
    )


def lambda_list_functions() -> Deny:
    return Deny("json", lambda r: r.method == "GET" and urlparse(r.path).path.rstrip("/") == "/2015-03-31/functions")


@dataclass
class Proxy:
    target: str
    denies: list[Deny] = field(default_factory=list)
    denied: list[Request] = field(default_factory=list)
    url: str = ""


@contextmanager
def denying_proxy(target: str, *denies: Deny) -> Iterator[Proxy]:
    proxy = Proxy(target=target, denies=list(denies))
    upstream = urlparse(target)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = Request(self.command, self.path, raw.decode("utf-8", "replace"))
            for deny in proxy.denies:
                if deny.matches(request):
                    proxy.denied.append(request)
                    self._deny(deny.protocol)
                    return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=raw or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            conn.close()

        def _deny(self, protocol: str) -> None:
            if protocol == "json":
                body, ctype = b'{"Type":"User","message":"denied by the test proxy"}', "application/json"
            else:
                body, ctype = (_S3_ERROR if protocol == "s3" else _QUERY_ERROR).encode(), "text/xml"
            self.send_response(403)
            self.send_header("Content-Type", ctype)
            if protocol == "json":
                self.send_header("x-amzn-ErrorType", "AccessDeniedException")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
