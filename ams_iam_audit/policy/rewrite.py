"""The least-privilege replacement for a policy's wildcard S3 grants (rules AMS-S3-001/002, ``--fix``).

Each Allow statement that grants S3 through a wildcard (``s3:*``, ``s3:Put*``, ``*`` or a
bucket-name pattern as its resource, ``NotResource``) is split in two: its non-S3 actions keep the
statement as it was, and its S3 actions become the named actions the AIModelShare workloads use
(``aimodelshare.library_s3_actions``) that the statement already granted, never more. In an identity
policy, wildcard resources become the aimodelshare buckets pinned to the account with
``aws:ResourceAccount`` (bucket names are global); named buckets stay. In a bucket policy the resources
are that bucket's own. Deny statements and statements without wildcards are kept unchanged.

A statement this cannot split safely (``Action: "*"`` or ``NotAction``: everything but a list) yields
no replacement and a reason, so the finding stays for a person to fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import aimodelshare
from .actions import expand
from .document import decode_policy
from .grants import s3_bucket_segment

__all__ = ["S3Rewrite", "least_privilege_s3"]


@dataclass(frozen=True)
class S3Rewrite:
    document: dict[str, Any] | None  # None: no safe replacement (see ``reason``), or nothing to change
    changed_statements: tuple[int, ...] = ()
    reason: str | None = None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _every_bucket(resource: str) -> bool:
    return resource == "*" or s3_bucket_segment(resource) == "*"


def _bucket_pattern(resource: str) -> bool:
    bucket = s3_bucket_segment(resource)
    return bucket is not None and ("*" in bucket or "?" in bucket)


def _beyond_s3(entry: str) -> bool:
    """``*`` or ``s*:Get*``: an Action entry that reaches services other than S3."""
    service = entry.split(":", 1)[0]
    return entry == "*" or "*" in service or "?" in service


def least_privilege_s3(
    document: Mapping[str, Any] | str,
    account_id: str,
    partition: str = "aws",
    *,
    bucket: str | None = None,
) -> S3Rewrite:
    """The replacement for ``document`` (an identity policy, or ``bucket``'s bucket policy)."""
    raw = dict(decode_policy(document))
    allowed = {a.lower(): a for a in aimodelshare.library_s3_actions()}
    prefix = f"arn:{partition}:s3:::"
    ours = [f"{prefix}{aimodelshare.BUCKET_PREFIX}*", f"{prefix}{aimodelshare.BUCKET_PREFIX}*/*"]
    out: list[Any] = []
    changed: list[int] = []
    for index, statement in enumerate(_list(raw.get("Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            out.append(statement)
            continue
        if "NotAction" in statement:
            return S3Rewrite(
                None, reason=f"statement {index} uses NotAction (every action but a list): narrow it by hand"
            )
        entries = [str(a) for a in _list(statement.get("Action"))]
        if any(_beyond_s3(a) for a in entries):
            return S3Rewrite(
                None, reason=f"statement {index} grants other services through a wildcard: narrow it by hand"
            )
        s3_entries = [a for a in entries if a.lower().startswith("s3:")]
        resources = [str(r) for r in _list(statement.get("Resource"))]
        wild_actions = any("*" in a or "?" in a for a in s3_entries)
        wild_resources = "NotResource" in statement or any(_every_bucket(r) or _bucket_pattern(r) for r in resources)
        if not s3_entries or not (wild_actions or wild_resources):
            out.append(statement)
            continue
        changed.append(index)
        if others := [a for a in entries if a not in s3_entries]:
            rest = {**copy.deepcopy(dict(statement)), "Action": others}
            if "Sid" in rest:
                rest["Sid"] = f"{rest['Sid']}NonS3"
            out.append(rest)
        granted = frozenset().union(*(expand(a) for a in s3_entries))
        named = sorted(allowed[a] for a in granted if a in allowed)
        if not named:
            continue  # none of it is what the library needs: the S3 part goes
        narrowed = {k: copy.deepcopy(v) for k, v in statement.items() if k not in ("Action", "Resource", "NotResource")}
        narrowed["Action"] = named
        if bucket is not None:
            narrowed["Resource"] = [f"{prefix}{bucket}", f"{prefix}{bucket}/*"]
        else:
            every = "NotResource" in statement or any(_every_bucket(r) for r in resources)
            kept = [r for r in resources if not _every_bucket(r)] + (ours if every else [])
            narrowed["Resource"] = list(dict.fromkeys(kept))
            if any(_bucket_pattern(r) for r in kept):
                condition = copy.deepcopy(dict(statement.get("Condition") or {}))
                condition.setdefault("StringEquals", {})["aws:ResourceAccount"] = account_id
                narrowed["Condition"] = condition
        out.append(narrowed)
    if not changed:
        return S3Rewrite(None)
    result = {**raw, "Statement": out}
    result.setdefault("Version", "2012-10-17")
    return S3Rewrite(result, changed_statements=tuple(changed))
