"""A loopback HTTP proxy in front of the moto server. It records every request, answers chosen
operations with AWS's own AccessDenied error in each protocol's format (moto grants everything; AWS
does not), and can answer operations moto lacks the way AWS does (``moto_gaps``)."""

from __future__ import annotations

import http.client
import re
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
    target: str = ""  # X-Amz-Target (JSON protocols: "CodeBuild_20161006.UpdateProject")
    service: str = ""  # the signing name in the Authorization header's credential scope ("iam", "s3")

    @property
    def operation(self) -> str:
        """The operation's name where the request says it (query and JSON-target protocols), else
        the method and path (REST protocols)."""
        if self.target:
            return self.target.rsplit(".", 1)[-1]
        for part in self.body.split("&"):
            if part.startswith("Action="):
                return part.removeprefix("Action=")
        return f"{self.method} {urlparse(self.path).path}"


@dataclass(frozen=True)
class Deny:
    """``protocol`` is ``query`` (IAM, STS), ``s3`` or ``json`` (Lambda, CodeBuild, API Gateway)."""

    protocol: str
    matches: Callable[[Request], bool]


@dataclass(frozen=True)
class Emulate:
    """Answer matching requests with ``respond(request) -> (status, content type, body)``."""

    matches: Callable[[Request], bool]
    respond: Callable[[Request], tuple[int, str, bytes]]


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
    rules: list[Deny | Emulate] = field(default_factory=list)
    denied: list[Request] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    url: str = ""


@contextmanager
def proxy_to(target: str, *rules: Deny | Emulate) -> Iterator[Proxy]:
    """A proxy to ``target`` applying ``rules`` (the first that matches a request answers it)."""
    proxy = Proxy(target=target, rules=list(rules))
    upstream = urlparse(target)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", self.headers.get("Authorization", ""))
            request = Request(
                self.command,
                self.path,
                raw.decode("utf-8", "replace"),
                self.headers.get("X-Amz-Target", ""),
                scope.group(1) if scope else "",
            )
            proxy.requests.append(request)
            for rule in proxy.rules:
                if not rule.matches(request):
                    continue
                if isinstance(rule, Emulate):
                    self._answer(*rule.respond(request))
                else:
                    proxy.denied.append(request)
                    self._deny(rule.protocol)
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

        def _answer(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
