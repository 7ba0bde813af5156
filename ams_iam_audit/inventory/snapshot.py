"""Snapshots: an inventory saved as versioned JSON, and loaded back for an offline audit.

``load_snapshot`` also accepts a raw GetAccountAuthorizationDetails file (what ``aws iam
get-account-authorization-details`` prints, and what cloudsplaining and parliament's
``--auth-details-file`` read). Such a file holds IAM only: access keys, the credential report, the
account's own settings (root user, password policy, Access Analyzer), S3 and the consumers of roles
are then recorded as unreadable, so the rules that need them report errors rather than passes. Each of
its four lists is a section of its own (``iam:users``, ``iam:groups``, ``iam:roles``,
``iam:policies``): a filtered export (``--filter Role``) lacks some, and what it lacks is unreadable,
never an empty part of the account.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..jsonio import InputError, jsonable, read_json, write_json_atomic
from .consumer_kinds import read_permissions
from .gaad import GAAD_PARTS, GaadError, entities_from_gaad, merge_pages, policy_sections
from .model import Inventory, Section

__all__ = ["SNAPSHOT_FORMAT", "SNAPSHOT_VERSION", "SnapshotError", "dump_inventory", "load_snapshot", "save_snapshot"]

SNAPSHOT_FORMAT = "ams-iam-audit/snapshot"
SNAPSHOT_VERSION = 1
_GAAD_KEYS = tuple(GAAD_PARTS.values())


class SnapshotError(ValueError):
    """A snapshot file that cannot be used; the message names the file and what is wrong with it."""


@functools.cache
def _fields(tp: type) -> tuple[tuple[str, Any, bool], ...]:
    """A dataclass's fields as ``_from_json`` reads them: name, resolved type, and whether a value is
    required. Resolving the annotations (``typing.get_type_hints``) once per class, not once per
    object, is most of what loading a snapshot of the default quotas cost (about 1 s of 1.3 s)."""
    hints = typing.get_type_hints(tp)
    return tuple(
        (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(tp)
    )


def _from_json(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _from_json(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise SnapshotError(f"{where}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_from_json(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise SnapshotError(f"{where}: expected an object, got {type(value).__name__}")
        kwargs = {}
        for name, hint, required in _fields(tp):
            if name in value:
                kwargs[name] = _from_json(hint, value[name], f"{where}.{name}")
            elif required:
                raise SnapshotError(f"{where}: missing {name}")
        return tp(**kwargs)
    if tp is datetime:
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise SnapshotError(f"{where}: not a date: {value!r}") from None
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise SnapshotError(f"{where}: expected an object, got {type(value).__name__}")
        return value
    if tp in (str, int, bool) and not isinstance(value, tp):
        raise SnapshotError(f"{where}: expected {tp.__name__}, got {value!r:.60}")
    return value


def dump_inventory(inventory: Inventory) -> dict[str, Any]:
    body: dict[str, Any] = {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION}
    body.update(jsonable(inventory))
    return body


def save_snapshot(inventory: Inventory, path: Path) -> None:
    """Write ``inventory`` to ``path`` (atomically: never half a file)."""
    write_json_atomic(Path(path), dump_inventory(inventory))


def _account_from_gaad(data: Mapping[str, Any], path: Path) -> str:
    for key in _GAAD_KEYS:
        for item in data.get(key) or []:
            parts = str(item.get("Arn", "")).split(":") if isinstance(item, Mapping) else []
            if len(parts) > 4 and parts[4].isdigit() and len(parts[4]) == 12:
                return parts[4]
    raise SnapshotError(f"{path}: GetAccountAuthorizationDetails data names no customer account in any ARN")


def _from_gaad(data: Mapping[str, Any], path: Path) -> Inventory:
    for key in _GAAD_KEYS:
        if data.get(key) is not None and not isinstance(data[key], list):
            raise SnapshotError(f"{path}: {key} must be a list, got {type(data[key]).__name__}")
    try:
        entities = entities_from_gaad(merge_pages([data]))
    except GaadError as exc:
        raise SnapshotError(f"{path}: {exc}") from None
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    missing = "not in a GetAccountAuthorizationDetails file"
    iam = tuple(
        Section(name=part, readable=True, source=f"{key} in GetAccountAuthorizationDetails file {path.name}")
        if isinstance(data.get(key), list)
        else Section(
            name=part,
            readable=False,
            error=f"{path.name} has no {key} (a filtered export such as --filter Role leaves lists out)",
            permission="iam:GetAccountAuthorizationDetails",
        )
        for part, key in GAAD_PARTS.items()
    )
    sections = (
        *iam,
        *policy_sections(entities, policies_listed=isinstance(data.get("Policies"), list)),
        Section(name="access_keys", readable=False, error=missing, permission="iam:GetCredentialReport"),
        Section(name="credential_report", readable=False, error=missing, permission="iam:GetCredentialReport"),
        Section(name="account_summary", readable=False, error=missing, permission="iam:GetAccountSummary"),
        Section(name="password_policy", readable=False, error=missing, permission="iam:GetAccountPasswordPolicy"),
        Section(name="accessanalyzer", readable=False, error=missing, permission="access-analyzer:ListAnalyzers"),
        Section(name="s3", readable=False, error=missing, permission="s3:ListAllMyBuckets"),
        Section(name="s3control", readable=False, error=missing, permission="s3:GetAccountPublicAccessBlock"),
        Section(name="cloudtrail", readable=False, error=missing, permission="cloudtrail:DescribeTrails"),
        Section(
            name="consumers",
            readable=False,
            error=missing,
            permission=", ".join(read_permissions()),
        ),
    )
    account = _account_from_gaad(data, path)
    return Inventory(
        account_id=account,
        partition="aws",
        collected_at=mtime,
        caller_arn=None,
        regions=(),
        sections=sections,
        users=entities.users,
        groups=entities.groups,
        roles=entities.roles,
        policies=entities.policies,
        source="gaad",
    )


def load_snapshot(path: Path) -> Inventory:
    """Load our snapshot format or a raw GAAD file. Raises :class:`SnapshotError`."""
    path = Path(path)
    try:
        data = read_json(path)
    except InputError as exc:
        raise SnapshotError(str(exc)) from None
    if not isinstance(data, Mapping):
        raise SnapshotError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") == SNAPSHOT_FORMAT:
        if data.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(
                f"{path}: snapshot version {data.get('version')!r} is not supported "
                f"(this release reads version {SNAPSHOT_VERSION})"
            )
        body = {k: v for k, v in data.items() if k not in ("format", "version")}
        inventory: Inventory = _from_json(Inventory, body, path.name)
        return dataclasses.replace(inventory, source="snapshot")
    if any(key in data for key in _GAAD_KEYS):
        return _from_gaad(data, path)
    raise SnapshotError(
        f'{path}: neither an ams-iam-audit snapshot (no "format": "{SNAPSHOT_FORMAT}") '
        "nor GetAccountAuthorizationDetails output (no UserDetailList/RoleDetailList/Policies)"
    )
