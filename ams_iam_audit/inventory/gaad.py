"""GetAccountAuthorizationDetails output -> inventory resources.

One converter for both ways GAAD data arrives: pages from boto3 during a live run, and a raw GAAD JSON
file (the AWS CLI's output, cloudsplaining's or parliament's ``--auth-details-file`` input) given to
``--snapshot``. Raw files may carry documents URL-encoded and dates as text; both are accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..policy.document import PolicyParseError, decode_policy
from .model import AttachedPolicy, Group, InlinePolicy, ManagedPolicy, PolicyVersion, Role, User

__all__ = ["GaadError", "IamEntities", "entities_from_gaad", "merge_pages", "parse_time"]

_LIST_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


class GaadError(ValueError):
    """GAAD data that is not shaped as AWS returns it."""


@dataclass(frozen=True)
class IamEntities:
    users: tuple[User, ...]
    groups: tuple[Group, ...]
    roles: tuple[Role, ...]
    policies: tuple[ManagedPolicy, ...]


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise GaadError(f"not a date: {value!r}") from exc


def merge_pages(pages: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {k: [] for k in _LIST_KEYS}
    for page in pages:
        for key in _LIST_KEYS:
            merged[key].extend(page.get(key) or [])
    return merged


def _req(item: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return item[key]
    except KeyError:
        raise GaadError(f"{where}: missing {key}") from None
    except TypeError:
        raise GaadError(f"{where}: expected an object, got {type(item).__name__}") from None


def _doc(value: Any, where: str) -> Mapping[str, Any]:
    try:
        return decode_policy(value, where)
    except PolicyParseError as exc:
        raise GaadError(str(exc)) from None


def _inline(items: Iterable[Mapping[str, Any]], where: str) -> tuple[InlinePolicy, ...]:
    out = []
    for item in items or ():
        name = _req(item, "PolicyName", where)
        out.append(
            InlinePolicy(name=name, document=_doc(_req(item, "PolicyDocument", where), f"{where} inline {name}"))
        )
    return tuple(sorted(out, key=lambda p: p.name))


def _attached(items: Iterable[Mapping[str, Any]], where: str) -> tuple[AttachedPolicy, ...]:
    out = [
        AttachedPolicy(
            name=str(i.get("PolicyName") or _req(i, "PolicyArn", where).rsplit("/", 1)[-1]),
            arn=_req(i, "PolicyArn", where),
        )
        for i in items or ()
    ]
    return tuple(sorted(out, key=lambda p: p.arn))


def _boundary(value: Any, where: str) -> str | None:
    """``PermissionsBoundary: {"PermissionsBoundaryType": ..., "PermissionsBoundaryArn": ...}``."""
    if not value:
        return None
    return str(_req(value, "PermissionsBoundaryArn", f"{where} permissions boundary"))


def _tags(items: Iterable[Mapping[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(t.get("Key", "")), str(t.get("Value", ""))) for t in items or ()))


def entities_from_gaad(data: Mapping[str, Any]) -> IamEntities:
    """Convert merged GAAD data (see :func:`merge_pages`). Raises :class:`GaadError`."""
    users = []
    for item in data.get("UserDetailList") or []:
        name = _req(item, "UserName", "UserDetailList")
        where = f"user {name}"
        users.append(
            User(
                name=name,
                arn=_req(item, "Arn", where),
                path=item.get("Path", "/"),
                created=parse_time(item.get("CreateDate")),
                groups=tuple(sorted(item.get("GroupList") or [])),
                inline_policies=_inline(item.get("UserPolicyList"), where),
                attached_policies=_attached(item.get("AttachedManagedPolicies"), where),
                tags=_tags(item.get("Tags")),
                permissions_boundary=_boundary(item.get("PermissionsBoundary"), where),
            )
        )
    groups = []
    for item in data.get("GroupDetailList") or []:
        name = _req(item, "GroupName", "GroupDetailList")
        where = f"group {name}"
        groups.append(
            Group(
                name=name,
                arn=_req(item, "Arn", where),
                inline_policies=_inline(item.get("GroupPolicyList"), where),
                attached_policies=_attached(item.get("AttachedManagedPolicies"), where),
            )
        )
    roles = []
    for item in data.get("RoleDetailList") or []:
        name = _req(item, "RoleName", "RoleDetailList")
        where = f"role {name}"
        last_used = item.get("RoleLastUsed") or {}
        roles.append(
            Role(
                name=name,
                arn=_req(item, "Arn", where),
                path=item.get("Path", "/"),
                created=parse_time(item.get("CreateDate")),
                trust_policy=_doc(_req(item, "AssumeRolePolicyDocument", where), f"{where} trust policy"),
                inline_policies=_inline(item.get("RolePolicyList"), where),
                attached_policies=_attached(item.get("AttachedManagedPolicies"), where),
                tags=_tags(item.get("Tags")),
                description=item.get("Description"),
                last_used=parse_time(last_used.get("LastUsedDate")),
                last_used_region=last_used.get("Region"),
                permissions_boundary=_boundary(item.get("PermissionsBoundary"), where),
                instance_profiles=tuple(
                    sorted(
                        str(_req(p, "Arn", f"{where} instance profile")) for p in item.get("InstanceProfileList") or []
                    )
                ),
            )
        )
    policies = []
    for item in data.get("Policies") or []:
        arn = _req(item, "Arn", "Policies")
        if arn.split(":")[4:5] == ["aws"] and not item.get("AttachmentCount"):
            continue  # an AWS managed policy attached to nothing grants nothing here
        where = f"policy {arn}"
        versions = tuple(
            PolicyVersion(
                version_id=_req(v, "VersionId", where),
                is_default=bool(v.get("IsDefaultVersion")),
                document=_doc(_req(v, "Document", where), f"{where} version {v.get('VersionId')}"),
                created=parse_time(v.get("CreateDate")),
            )
            for v in item.get("PolicyVersionList") or []
        )
        policies.append(
            ManagedPolicy(
                name=str(item.get("PolicyName") or arn.rsplit("/", 1)[-1]),
                arn=arn,
                path=item.get("Path", "/"),
                aws_managed=arn.split(":")[4:5] == ["aws"],
                default_version_id=str(
                    item.get("DefaultVersionId") or next((v.version_id for v in versions if v.is_default), "")
                ),
                attachment_count=int(item.get("AttachmentCount") or 0),
                versions=versions,
                description=item.get("Description") or None,
            )
        )
    key = lambda r: r.arn  # noqa: E731
    return IamEntities(
        users=tuple(sorted(users, key=key)),
        groups=tuple(sorted(groups, key=key)),
        roles=tuple(sorted(roles, key=key)),
        policies=tuple(sorted(policies, key=key)),
    )
