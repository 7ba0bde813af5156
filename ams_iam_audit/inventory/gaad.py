"""GetAccountAuthorizationDetails output -> inventory resources.

One converter for both ways GAAD data arrives: pages from boto3 during a live run, and a raw GAAD JSON
file (the AWS CLI's output, cloudsplaining's or parliament's ``--auth-details-file`` input) given to
``--snapshot``. Raw files may carry documents URL-encoded and dates as text; both are accepted.

A customer managed policy whose default version cannot be had (missing from ``PolicyVersionList``,
an empty list, a document that is not JSON) is kept with ``document_error`` saying what is missing,
and :func:`policy_sections` makes an unreadable section of it: it is an error case of its own, never
silently skipped. Which lists a file holds is :data:`GAAD_PARTS`' business (see ``snapshot.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..policy.document import PolicyParseError, decode_policy
from .model import (
    AttachedPolicy,
    Group,
    InlinePolicy,
    ManagedPolicy,
    PolicyVersion,
    Role,
    Section,
    User,
)

__all__ = [
    "GAAD_PARTS",
    "GaadError",
    "IamEntities",
    "entities_from_gaad",
    "merge_pages",
    "parse_time",
    "policy_sections",
]

#: Inventory section -> the GAAD list it is read from.
GAAD_PARTS: dict[str, str] = {
    "iam:users": "UserDetailList",
    "iam:groups": "GroupDetailList",
    "iam:roles": "RoleDetailList",
    "iam:policies": "Policies",
}
_LIST_KEYS = tuple(GAAD_PARTS.values())


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
        # botocore gives every date a dateutil ``tzlocal`` of its own (45,000 at IAM's maximum quotas,
        # about 6 MB kept to the end of the run): the same instant in UTC shares one zone
        return value if value.tzinfo is None or value.tzinfo is UTC else value.astimezone(UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise GaadError(f"not a date: {value!r}") from exc


def merge_pages(pages: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {k: [] for k in _LIST_KEYS}
    for number, page in enumerate(pages, 1):
        for key in _LIST_KEYS:
            items = page.get(key)
            if items is not None and not isinstance(items, list):
                raise GaadError(f"page {number}: {key} is not a list but {type(items).__name__}")
            merged[key].extend(items or [])
    return merged


def policy_sections(entities: IamEntities, *, policies_listed: bool = True) -> tuple[Section, ...]:
    """An unreadable section for each customer managed policy whose default document could not be
    had, and (when the data lists policies at all: ``policies_listed``) for each one attached to a
    user, group or role but missing from the policies: named in the coverage gaps as well as reported
    as an error by the rules that judge policies."""
    permission = "iam:GetAccountAuthorizationDetails (or iam:GetPolicyVersion)"
    sections = [
        Section(name=f"iam:policy/{p.name}", readable=False, error=p.document_error, permission=permission)
        for p in entities.policies
        if p.document_error is not None
    ]
    if not policies_listed:
        return tuple(sections)
    listed = {p.arn for p in entities.policies}
    holders: dict[str, tuple[str, list[str]]] = {}
    principals: tuple[User | Group | Role, ...] = (*entities.users, *entities.groups, *entities.roles)
    for principal in principals:
        for attached in principal.attached_policies:
            parts = attached.arn.split(":")
            if attached.arn in listed or len(parts) < 6 or parts[4] == "aws":
                continue  # listed, or AWS managed (a file may leave those out)
            holders.setdefault(attached.arn, (attached.name, []))[1].append(principal.arn.split(":")[-1])
    for arn, (name, by) in sorted(holders.items()):
        sections.append(
            Section(
                name=f"iam:policy/{name}",
                readable=False,
                error=f"policy {arn} is attached to {', '.join(sorted(by)[:3])}"
                + (f" and {len(by) - 3} more" if len(by) > 3 else "")
                + " but is not in Policies: its document is unknown",
                permission=permission,
            )
        )
    return tuple(sections)


def _req(item: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return item[key]
    except KeyError:
        raise GaadError(f"{where}: missing {key}") from None
    except TypeError:
        raise GaadError(f"{where}: expected an object, got {type(item).__name__}") from None


def _doc(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, str | bytes | Mapping):
        raise GaadError(f"{where}: a policy document must be JSON text or an object, got {type(value).__name__}")
    try:
        return decode_policy(value, where)
    except (PolicyParseError, UnicodeDecodeError) as exc:
        raise GaadError(str(exc)) from None


def _versions(item: Mapping[str, Any], where: str) -> tuple[tuple[PolicyVersion, ...], str, str | None]:
    """A policy's readable versions, its default version id, and why the default version's document
    cannot be had (``None`` when it can)."""
    listed = item.get("PolicyVersionList")
    if listed is not None and not isinstance(listed, list):
        raise GaadError(f"{where}: PolicyVersionList is not a list")
    versions = []
    broken: dict[str, str] = {}
    for v in listed or ():
        version_id = str(_req(v, "VersionId", where))
        try:
            document = _doc(_req(v, "Document", where), f"{where} version {version_id}")
        except GaadError as exc:
            broken[version_id] = str(exc)
            continue
        versions.append(
            PolicyVersion(
                version_id=version_id,
                is_default=bool(v.get("IsDefaultVersion")),
                document=document,
                created=parse_time(v.get("CreateDate")),
            )
        )
    marked = [v.version_id for v in versions if v.is_default]
    default = str(item.get("DefaultVersionId") or (marked[0] if marked else ""))
    error = None
    if not default:
        error = f"{where}: no DefaultVersionId, and no version in PolicyVersionList is marked default"
    elif default in broken:
        error = f"default version {default}: {broken[default]}"
    elif all(v.version_id != default for v in versions):
        if not listed:
            what = "PolicyVersionList is missing" if listed is None else "PolicyVersionList is empty"
            error = f"{where}: {what}, so its default version {default} cannot be judged"
        else:
            held = ", ".join(str(v.get("VersionId")) for v in listed if isinstance(v, Mapping))
            error = f"{where}: default version {default} is not in PolicyVersionList (which holds {held})"
    return tuple(versions), default, error


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
    try:
        return _entities(data)
    except (AttributeError, TypeError) as exc:  # an item or a field of another shape than AWS's
        raise GaadError(f"an item is not shaped as AWS returns it ({exc})") from None


def _entities(data: Mapping[str, Any]) -> IamEntities:
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
        versions, default, error = _versions(item, where)
        try:
            attachment_count = int(item.get("AttachmentCount") or 0)
        except (TypeError, ValueError):
            raise GaadError(f"{where}: AttachmentCount is not a number: {item.get('AttachmentCount')!r:.40}") from None
        policies.append(
            ManagedPolicy(
                name=str(item.get("PolicyName") or arn.rsplit("/", 1)[-1]),
                arn=arn,
                path=item.get("Path", "/"),
                aws_managed=arn.split(":")[4:5] == ["aws"],
                default_version_id=default,
                attachment_count=attachment_count,
                versions=versions,
                description=item.get("Description") or None,
                document_error=error,
            )
        )
    key = lambda r: r.arn  # noqa: E731
    return IamEntities(
        users=tuple(sorted(users, key=key)),
        groups=tuple(sorted(groups, key=key)),
        roles=tuple(sorted(roles, key=key)),
        policies=tuple(sorted(policies, key=key)),
    )
