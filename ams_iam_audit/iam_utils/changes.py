"""Write calls as data: what a fix would change, how to undo it, and who makes the call.

Every change ``--fix`` makes is a :class:`Call`: the boto3 service, method and keyword arguments,
plus the calls that put back what was there before (computed from the state read just before, so an
undo restores documents, attachments, consumer pointers and tags) or the reason it cannot be undone
(an access key's secret, a login password). ``iam_utils`` and the consumer re-pointing functions
build calls and hand them to an :class:`Executor`; the default one just makes them, the journal's
(``remediate.journal``) writes each to disk first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..jsonio import jsonable

if TYPE_CHECKING:
    from botocore.client import BaseClient


__all__ = ["DIRECT", "Call", "Executor", "UnsupportedCallError", "action_name", "is_error"]

_FIRST_CAP = re.compile(r"(?:^|_)([a-z])")


def action_name(service: str, operation: str) -> str:
    """``("iam", "delete_role")`` -> ``iam:DeleteRole``: the IAM action the call needs."""
    prefix = {"apigateway": "apigateway"}.get(service, service)
    return f"{prefix}:{_FIRST_CAP.sub(lambda m: m.group(1).upper(), operation)}"


@dataclass(frozen=True)
class Call:
    """One write call. ``params`` are the boto3 keyword arguments; ``undo`` the calls that restore
    the prior state, in order; ``irreversible`` says why there are none when they cannot exist."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(hash=False)
    region: str | None = None
    undo: tuple[Call, ...] = field(default=(), hash=False)
    irreversible: str | None = None

    @property
    def action(self) -> str:
        return action_name(self.service, self.operation)

    def describe(self) -> str:
        """``iam:DeleteRole RoleName=codebuild_role``: documents are summarised, not printed."""
        shown = []
        for key, value in self.params.items():
            if isinstance(value, str) and len(value) <= 120 and not value.lstrip().startswith("{"):
                shown.append(f"{key}={value}")
            elif isinstance(value, bool | int):
                shown.append(f"{key}={str(value).lower()}")
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                shown.append(f"{key}={','.join(value)}")
            elif isinstance(value, list | tuple) and key == "patchOperations":
                shown.append(f"{key}=" + ",".join(f"{p['op']} {p['path']}={p.get('value', '')}" for p in value))
            else:
                shown.append(f"{key}=<{type(value).__name__}>")
        where = f" [{self.region}]" if self.region else ""
        return f"{self.action}{where} " + " ".join(shown)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, access key ids masked (see ``jsonio.scrub``)."""
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "params": jsonable(dict(self.params)),
            "undo": [u.to_json() for u in self.undo],
            "irreversible": self.irreversible,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        return cls(
            service=data["service"],
            operation=data["operation"],
            params=data.get("params") or {},
            region=data.get("region"),
            undo=tuple(cls.from_json(u) for u in data.get("undo") or ()),
            irreversible=data.get("irreversible"),
        )


class UnsupportedCallError(RuntimeError):
    """The endpoint is known not to implement this call (the demo's moto server); not attempted."""


class Executor:
    """Makes write calls. ``unsupported`` names actions the endpoint is known to lack: they are
    refused before anything is sent (the journal subclass writes each call down first)."""

    def __init__(self, unsupported: frozenset[str] = frozenset()) -> None:
        self.unsupported = unsupported

    def check(self, call: Call) -> None:
        if call.action in self.unsupported:
            raise UnsupportedCallError(f"{call.action} is not implemented by this endpoint; on AWS it would be made")

    def run(self, client: BaseClient, call: Call) -> Any:
        self.check(call)
        return self.send(client, call)

    def send(self, client: BaseClient, call: Call) -> Any:
        """The call itself, with no checks or bookkeeping."""
        return getattr(client, call.operation)(**call.params)

    def wait(self, client: BaseClient, waiter: str, **kwargs: Any) -> None:
        """An AWS waiter (``role_exists``, ``function_updated_v2``...) instead of a fixed sleep."""
        client.get_waiter(waiter).wait(**kwargs, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


DIRECT = Executor()


def is_error(exc: BaseException, *codes: str) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in codes
