"""Reading AWS answers defensively: every page of a list, a required text field, a nested object.

Shared by the collection of the account (``inventory.collect``) and the readers of the consumers of
roles (``inventory.readers``). An answer that is not the protocol's shape (a missing name, a list
where an object belongs) is a :class:`~ams_iam_audit.aws.CallError` with code :data:`MALFORMED`
naming the call, which collection turns into an unreadable section: never a guess, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..aws import CallError, paged

if TYPE_CHECKING:
    from botocore.client import BaseClient


__all__ = ["MALFORMED", "mapping", "opaque_mapping", "pages", "text"]

#: The error code of a :class:`CallError` raised for an answer that is not the protocol's shape.
MALFORMED = "MalformedResponse"


def pages(client: BaseClient, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    """Every item of list ``key`` over every page of ``operation`` (see :func:`ams_iam_audit.aws.paged`)."""
    for page in paged(client, operation, key, **kwargs):
        yield from page.get(key) or []


def text(item: Any, key: str, call_name: str, *, optional: bool = False) -> Any:
    """``item[key]`` as text, or :class:`CallError` saying the response is malformed. ``optional``:
    absent (or null) gives ``None``."""
    value = item.get(key) if isinstance(item, Mapping) else None
    if value is None and optional and isinstance(item, Mapping):
        return None
    if not isinstance(value, str) or not value:
        raise CallError(call_name, MALFORMED, f"an item has no {key} (got {item!r:.80})")
    return value


def mapping(value: Any, what: str, call_name: str) -> Mapping[str, Any]:
    """``value`` as an object (``None`` gives an empty one), or :class:`CallError` quoting it."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CallError(call_name, MALFORMED, f"{what} is not an object (got {value!r:.80})")
    return value


def opaque_mapping(value: Any, what: str, call_name: str) -> Mapping[str, Any]:
    """Like :func:`mapping`, but the error never quotes the value: it may hold secrets."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CallError(call_name, MALFORMED, f"{what} is not an object (got a {type(value).__name__})")
    return value
