"""What the modules of ``iam_utils`` share: the permissions each public function declares
(:data:`PERMISSIONS`, filled by :func:`needs`), the errors a refused change raises, and small helpers
(paging, JSON text, tags, IAM calls)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..policy.document import decode_policy, policy_hash
from .changes import Call

if TYPE_CHECKING:
    from botocore.client import BaseClient


#: function name -> the IAM actions it calls (reads and writes), for a least-privilege ``--fix`` policy.
PERMISSIONS: dict[str, tuple[str, ...]] = {}

F = TypeVar("F", bound=Callable[..., Any])


def needs(*actions: str) -> Callable[[F], F]:
    def declare(fn: F) -> F:
        PERMISSIONS[fn.__name__] = tuple(sorted(set(actions)))
        return fn

    return declare


class RetirementRefusedError(RuntimeError):
    """A retirement would break an AWS rule or something still in use; nothing was changed."""


class BucketOwnedElsewhereError(RuntimeError):
    """The bucket name is taken by another account (bucket names are global)."""


def _pages(client: BaseClient, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, ())


def json_text(document: Mapping[str, Any]) -> str:
    """A document as the compact JSON text IAM and S3 take."""
    return json.dumps(document, separators=(",", ":"))


def _doc(value: Any) -> dict[str, Any]:
    return dict(decode_policy(value))


def _tags(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(pairs.items())]


def _same(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    return a is not None and b is not None and policy_hash(a) == policy_hash(b)


def _iam(operation: str, /, *, undo: tuple[Call, ...] = (), irreversible: str | None = None, **params: Any) -> Call:
    return Call("iam", operation, params, undo=undo, irreversible=irreversible)


def _when(value: Any) -> datetime | None:
    """A timestamp as boto3 parses it (an aware ``datetime``); anything else is unknown."""
    return value if isinstance(value, datetime) else None
