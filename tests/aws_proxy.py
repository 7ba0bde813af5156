"""A loopback HTTP proxy in front of the moto server: a fault injector. It records every request,
answers chosen operations with AWS's own AccessDenied error in each protocol's format (moto grants
everything; AWS does not), can answer operations moto lacks the way AWS does (``moto_gaps``), and
injects faults (:class:`Fault`): rewritten answers (a page truncated without its marker, a marker
repeated, a body that is not the protocol's, a garbage date), answers of its own (throttling), and
calls that stall without an answer."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
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
    region: str = ""  # the region in the Authorization header's credential scope

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


@dataclass(frozen=True)
class Fault:
    """A fault for matching requests (the first ``times`` of them, or all): ``respond`` answers
    instead of moto; ``alter(request, body) -> body`` rewrites moto's answer; ``stall`` holds the
    request that many seconds (released early when the proxy closes) and then drops the connection
    without an answer."""

    matches: Callable[[Request], bool]
    alter: Callable[[Request, bytes], bytes] | None = None
    respond: Callable[[Request], tuple[int, str, bytes]] | None = None
    stall: float = 0.0
    times: int | None = None


def is_query(action: str) -> Callable[[Request], bool]:
    """Query-protocol requests (IAM, STS) for ``action``."""
    return lambda r: f"Action={action}&" in r.body + "&"


def is_target(operation: str) -> Callable[[Request], bool]:
    """JSON-target requests (CodeBuild) for ``operation``."""
    return lambda r: r.target.rsplit(".", 1)[-1] == operation


def is_get(path: str) -> Callable[[Request], bool]:
    """REST GETs of ``path`` (a regular expression over the URL's path)."""
    return lambda r: r.method == "GET" and re.fullmatch(path, urlparse(r.path).path.rstrip("/") or "/") is not None


def rewrite(matches: Callable[[Request], bool], pattern: bytes, replacement: bytes, count: int = 0) -> Fault:
    """moto's answer with ``pattern`` (a regular expression) replaced."""
    return Fault(matches, alter=lambda _, body: re.sub(pattern, replacement, body, count=count))


def json_answer(matches: Callable[[Request], bool], change: Callable[[dict[str, Any]], None]) -> Fault:
    """moto's JSON answer, changed in place by ``change``."""

    def alter(_: Request, body: bytes) -> bytes:
        data = json.loads(body)
        change(data)
        return json.dumps(data).encode()

    return Fault(matches, alter=alter)


def truncated_without_marker(action: str) -> Fault:
    """An IAM page that says ``IsTruncated`` and gives no ``Marker``."""

    def alter(_: Request, body: bytes) -> bytes:
        body = re.sub(rb"<IsTruncated>false</IsTruncated>|<Marker>[^<]*</Marker>", b"", body)
        end = f"</{action}Result>".encode()
        return body.replace(end, b"<IsTruncated>true</IsTruncated>" + end)

    return Fault(is_query(action), alter=alter)


def xml_marker_repeated(action: str) -> Fault:
    """Every IAM page says there is more, under the same ``Marker``."""
    return rewrite(
        is_query(action),
        rb"<IsTruncated>false</IsTruncated>",
        b"<IsTruncated>true</IsTruncated><Marker>again</Marker>",
    )


def stall(matches: Callable[[Request], bool], seconds: float) -> Fault:
    return Fault(matches, stall=seconds)


def throttle(action: str, times: int) -> Fault:
    """The first ``times`` requests for ``action`` are throttled, as IAM does under load."""
    body = _QUERY_ERROR.replace("AccessDenied", "Throttling").replace("denied by", "rate exceeded, says").encode()
    return Fault(is_query(action), respond=lambda _: (400, "text/xml", body), times=times)


def query_action(action: str) -> Deny:
    return Deny("query", is_query(action))


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


Rule = Deny | Emulate | Fault


@dataclass
class Proxy:
    target: str
    rules: list[Rule] = field(default_factory=list)
    denied: list[Request] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    faulted: list[Request] = field(default_factory=list)
    url: str = ""
    closing: threading.Event = field(default_factory=threading.Event)
    _hits: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, request: Request) -> Rule | None:
        """The rule that answers ``request`` (counting a limited fault's uses), or ``None``."""
        with self._lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(request):
                    continue
                if isinstance(rule, Fault):
                    if rule.times is not None and self._hits.get(index, 0) >= rule.times:
                        continue
                    self._hits[index] = self._hits.get(index, 0) + 1
                    self.faulted.append(request)
                return rule
        return None


@contextmanager
def proxy_to(target: str, *rules: Rule) -> Iterator[Proxy]:
    """A proxy to ``target`` applying ``rules`` (the first that matches a request answers it)."""
    proxy = Proxy(target=target, rules=list(rules))
    upstream = urlparse(target)
    if upstream.hostname is None:
        raise ValueError(f"proxy target {target!r} names no host")
    host = upstream.hostname

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", self.headers.get("Authorization", ""))
            request = Request(
                self.command,
                self.path,
                raw.decode("utf-8", "replace"),
                self.headers.get("X-Amz-Target", ""),
                scope.group(2) if scope else "",
                scope.group(1) if scope else "",
            )
            proxy.requests.append(request)
            rule = proxy.take(request)
            if isinstance(rule, Emulate):
                self._answer(*rule.respond(request))
                return
            if isinstance(rule, Deny):
                proxy.denied.append(request)
                self._deny(rule.protocol)
                return
            if isinstance(rule, Fault) and rule.stall:
                proxy.closing.wait(rule.stall)
                self.close_connection = True
                return
            if isinstance(rule, Fault) and rule.respond is not None:
                self._answer(*rule.respond(request))
                return
            conn = http.client.HTTPConnection(host, upstream.port, timeout=30)
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")
            }
            conn.request(self.command, self.path, body=raw or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if isinstance(rule, Fault) and rule.alter is not None:
                payload = rule.alter(request, payload)
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length", "content-md5"):
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
        proxy.closing.set()  # release stalled requests
        server.shutdown()
        server.server_close()
