"""Idempotent IAM provisioning, compatible with the refactored AIModelShare library's ``iam_utils``.

The signatures and return values of ``canonical_policy_doc``, ``policy_hash``, ``ensure_bucket``,
``ensure_role``, ``ensure_managed_policy``, ``ensure_inline_policy``,
``attach_managed_policy_to_role`` and ``get_execution_session`` are the library's, so code written
against it runs unchanged. What differs is what the library got wrong:

* documents are compared semantically (``policy_hash``): ``"Action": "s3:GetObject"`` and
  ``["s3:GetObject"]``, or a reordered list, are the same document and create no new version;
* a policy's ARN uses the account of the caller's own client (``account_id`` or the client's
  credentials), never a default ``boto3.client('sts')``;
* IAM waiters (``role_exists``, ``policy_exists``) replace fixed sleeps; every listing is paged;
* a role's description and tags are kept in step; a policy at IAM's limit of 5 versions loses its
  oldest non-default version first, and a document equal to an older version re-uses that version;
* ``ensure_bucket`` tells a bucket of another account from ours, survives a concurrent create, and
  blocks public access on what it creates.

Beyond the library, the retirements ``--fix`` needs (``retire_role``, ``retire_user``,
``delete_managed_policy``) enforce AWS's ordering rules themselves (no user deleted with keys, no
policy deleted while attached, no role deleted while in an instance profile), even where a test
backend is laxer. Each function works in three steps: read the current state, compute the write
calls from it (``*_calls``, pure functions that ``remediate`` also uses to preview a plan from an
inventory), and hand each call to an ``Executor`` (``changes``), which may journal it first.

Each public function declares the IAM actions it needs in :data:`PERMISSIONS`.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .aws import get_execution_session
from .changes import DIRECT, Call, Executor, is_error
from .policy.document import canonical_policy_doc, decode_policy, policy_hash

__all__ = [
    "INLINE_KEY",
    "LOCK_POLICY_NAME",
    "MAX_POLICY_VERSIONS",
    "PERMISSIONS",
    "BucketOwnedElsewhereError",
    "FixLock",
    "FixLockHeldError",
    "PolicyState",
    "PolicyVersionState",
    "RetirementRefusedError",
    "RoleState",
    "ServiceAccess",
    "UserState",
    "acquire_fix_lock",
    "attach_calls",
    "attach_managed_policy_to_role",
    "caller_account",
    "canonical_policy_doc",
    "delete_managed_policy",
    "delete_role",
    "empty_role",
    "ensure_bucket",
    "ensure_bucket_policy",
    "ensure_inline_policy",
    "ensure_managed_policy",
    "ensure_role",
    "get_execution_session",
    "json_text",
    "key_deactivation_calls",
    "lock_arn",
    "policy_calls",
    "policy_deletion_calls",
    "policy_hash",
    "read_fix_lock",
    "read_policy",
    "read_role",
    "read_user",
    "release_fix_lock",
    "retain_only_role_policies",
    "retire_role",
    "retire_user",
    "role_calls",
    "role_deletion_calls",
    "role_emptying_calls",
    "role_retirement_calls",
    "services_last_accessed",
    "trim_calls",
    "user_retirement_calls",
]

#: IAM keeps at most this many versions of a managed policy.
MAX_POLICY_VERSIONS = 5

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


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
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


# --- roles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleState:
    """A role as read (``read_role``) or as an inventory holds it. ``instance_profiles`` is ``None``
    when unknown (an inventory does not record them; a live read does)."""

    name: str
    arn: str
    path: str = "/"
    trust: Mapping[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    max_session_duration: int = 3600
    attached: tuple[str, ...] = ()
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    instance_profiles: tuple[str, ...] | None = None
    #: ``RoleLastUsed`` as GetRole answered it (``None``: never used in IAM's tracking period, or unknown)
    last_used: datetime | None = None
    last_used_region: str | None = None


@needs(
    "iam:GetRole",
    "iam:ListRoleTags",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListInstanceProfilesForRole",
)
def read_role(iam_client: Any, role_name: str, *, full: bool = True) -> RoleState | None:
    """The role's current state, or ``None`` when it does not exist. ``full=False`` reads only what
    ``ensure_role`` compares (trust, description, tags)."""
    try:
        role = iam_client.get_role(RoleName=role_name)["Role"]
    except ClientError as exc:
        if is_error(exc, "NoSuchEntity"):
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in _pages(iam_client, "list_role_tags", "Tags", RoleName=role_name)}
    state = RoleState(
        name=role_name,
        arn=role["Arn"],
        path=role.get("Path", "/"),
        trust=_doc(role["AssumeRolePolicyDocument"]),
        description=role.get("Description") or "",
        tags=tags,
        max_session_duration=int(role.get("MaxSessionDuration") or 3600),
        last_used=_when((role.get("RoleLastUsed") or {}).get("LastUsedDate")),
        last_used_region=(role.get("RoleLastUsed") or {}).get("Region") or None,
    )
    if not full:
        return state
    attached = tuple(
        p["PolicyArn"]
        for p in _pages(iam_client, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name)
    )
    inline = {
        name: _doc(iam_client.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
        for name in _pages(iam_client, "list_role_policies", "PolicyNames", RoleName=role_name)
    }
    profiles = tuple(
        p["InstanceProfileName"]
        for p in _pages(iam_client, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role_name)
    )
    return RoleState(**{**state.__dict__, "attached": attached, "inline": inline, "instance_profiles": profiles})


def role_calls(
    current: RoleState | None,
    role_name: str,
    trust: Mapping[str, Any],
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> list[Call]:
    """The calls that bring ``current`` to the desired trust, description and tags. Tags are
    added or changed, never removed: other tags on the role are its owner's."""
    tags = dict(tags or {})
    if current is None:
        params: dict[str, Any] = {"RoleName": role_name, "AssumeRolePolicyDocument": json_text(trust)}
        if description:
            params["Description"] = description
        if tags:
            params["Tags"] = _tags(tags)
        return [Call("iam", "create_role", params, undo=(_iam("delete_role", RoleName=role_name),))]
    calls = []
    if not _same(current.trust, trust):
        calls.append(
            _iam(
                "update_assume_role_policy",
                undo=(_iam("update_assume_role_policy", RoleName=role_name, PolicyDocument=json_text(current.trust)),),
                RoleName=role_name,
                PolicyDocument=json_text(trust),
            )
        )
    if description and current.description != description:
        calls.append(
            _iam(
                "update_role",
                undo=(_iam("update_role", RoleName=role_name, Description=current.description),),
                RoleName=role_name,
                Description=description,
            )
        )
    return calls + _tag_calls(role_name, current.tags, tags)


def _tag_calls(role_name: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> list[Call]:
    """Add or change ``wanted`` tags (others are left as they are)."""
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not changed:
        return []
    undo = []
    if added := sorted(k for k in changed if k not in current):
        undo.append(_iam("untag_role", RoleName=role_name, TagKeys=added))
    if restored := {k: current[k] for k in changed if k in current}:
        undo.append(_iam("tag_role", RoleName=role_name, Tags=_tags(restored)))
    return [_iam("tag_role", undo=tuple(undo), RoleName=role_name, Tags=_tags(changed))]


@needs(
    "iam:GetRole", "iam:ListRoleTags", "iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:TagRole"
)
def ensure_role(
    iam_client: Any,
    role_name: str,
    trust_relationship: Mapping[str, Any] | str,
    description: str = "",
    *,
    tags: Mapping[str, str] | None = None,
    executor: Executor = DIRECT,
) -> tuple[bool, bool]:
    """Create ``role_name`` with ``trust_relationship``, or bring its trust policy, description and
    ``tags`` in step. Returns ``(created, updated)``; ``(False, False)`` when nothing changed."""
    trust = _doc(trust_relationship)
    current = read_role(iam_client, role_name, full=False)
    calls = role_calls(current, role_name, trust, description, tags)
    for call in calls:
        try:
            executor.run(iam_client, call)
        except ClientError as exc:
            if call.operation == "create_role" and is_error(exc, "EntityAlreadyExists"):
                return ensure_role(iam_client, role_name, trust, description, tags=tags, executor=executor)
            raise
    if current is None:
        executor.wait(iam_client, "role_exists", RoleName=role_name)
    return current is None, current is not None and bool(calls)


def attach_calls(attached: tuple[str, ...], role_name: str, policy_arn: str) -> list[Call]:
    if policy_arn in attached:
        return []
    undo = (_iam("detach_role_policy", RoleName=role_name, PolicyArn=policy_arn),)
    return [_iam("attach_role_policy", undo=undo, RoleName=role_name, PolicyArn=policy_arn)]


@needs("iam:ListAttachedRolePolicies", "iam:AttachRolePolicy")
def attach_managed_policy_to_role(
    iam_client: Any, role_name: str, policy_arn: str, *, executor: Executor = DIRECT
) -> bool:
    """Attach ``policy_arn`` to ``role_name`` unless it already is (every page of attachments is
    read). Returns whether it was newly attached."""
    attached = tuple(
        p["PolicyArn"]
        for p in _pages(iam_client, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name)
    )
    calls = attach_calls(attached, role_name, policy_arn)
    for call in calls:
        executor.run(iam_client, call)
    return bool(calls)


def trim_calls(state: RoleState, keep_managed: frozenset[str], keep_inline: frozenset[str]) -> list[Call]:
    """Detach every managed policy but ``keep_managed`` and delete every inline policy but
    ``keep_inline`` (each with the call that puts it back)."""
    calls = [
        _iam(
            "detach_role_policy",
            undo=(_iam("attach_role_policy", RoleName=state.name, PolicyArn=arn),),
            RoleName=state.name,
            PolicyArn=arn,
        )
        for arn in state.attached
        if arn not in keep_managed
    ]
    calls += [
        _iam(
            "delete_role_policy",
            undo=(_iam("put_role_policy", RoleName=state.name, PolicyName=name, PolicyDocument=json_text(doc)),),
            RoleName=state.name,
            PolicyName=name,
        )
        for name, doc in state.inline.items()
        if name not in keep_inline
    ]
    return calls


@needs(*PERMISSIONS["read_role"], "iam:DetachRolePolicy", "iam:DeleteRolePolicy")
def retain_only_role_policies(
    iam_client: Any,
    role_name: str,
    keep_managed: frozenset[str] = frozenset(),
    keep_inline: frozenset[str] = frozenset(),
    *,
    executor: Executor = DIRECT,
) -> list[Call]:
    """Leave ``role_name`` holding only the given policies. Returns the calls made."""
    state = read_role(iam_client, role_name)
    if state is None:
        return []
    calls = trim_calls(state, keep_managed, keep_inline)
    for call in calls:
        executor.run(iam_client, call)
    return calls


def role_emptying_calls(state: RoleState, mark: Mapping[str, str] | None = None) -> list[Call]:
    """Tag the role with ``mark`` (so an interrupted retirement is recognisable), then detach its
    managed policies and delete its inline ones, each with the call that puts it back."""
    return [*_tag_calls(state.name, state.tags, mark or {}), *trim_calls(state, frozenset(), frozenset())]


def role_deletion_calls(state: RoleState) -> list[Call]:
    """Delete the (empty) role; undone by creating it again as it was."""
    params: dict[str, Any] = {
        "RoleName": state.name,
        "Path": state.path,
        "AssumeRolePolicyDocument": json_text(state.trust),
        "MaxSessionDuration": state.max_session_duration,
    }
    if state.description:
        params["Description"] = state.description
    if state.tags:
        params["Tags"] = _tags(state.tags)
    return [_iam("delete_role", undo=(Call("iam", "create_role", params),), RoleName=state.name)]


def role_retirement_calls(state: RoleState, mark: Mapping[str, str] | None = None) -> list[Call]:
    return [*role_emptying_calls(state, mark), *role_deletion_calls(state)]


def _when(value: Any) -> datetime | None:
    """A timestamp as boto3 parses it (an aware ``datetime``); anything else is unknown."""
    return value if isinstance(value, datetime) else None


def _refuse_instance_profiles(state: RoleState) -> None:
    if state.instance_profiles:
        raise RetirementRefusedError(
            f"role {state.name} is in instance profile(s) {', '.join(state.instance_profiles)}: EC2 may use it"
        )


@needs(*PERMISSIONS["read_role"], "iam:TagRole", "iam:DetachRolePolicy", "iam:DeleteRolePolicy")
def empty_role(
    iam_client: Any,
    role_name: str,
    *,
    mark: Mapping[str, str] | None = None,
    keep_if: Callable[[RoleState], str | None] | None = None,
    executor: Executor = DIRECT,
) -> RoleState | None:
    """First half of a retirement: tag with ``mark``, detach and delete every policy. Refuses
    (changing nothing) while the role is in an instance profile: an EC2 instance may be using it;
    and when ``keep_if``, given the state just read (with its ``RoleLastUsed``), names a reason to
    keep the role. Callers check the role's other consumers first. Returns the state before
    (``None``: no role)."""
    state = read_role(iam_client, role_name)
    if state is None:
        return None
    _refuse_instance_profiles(state)
    reason = keep_if(state) if keep_if is not None else None
    if reason:
        raise RetirementRefusedError(reason)
    for call in role_emptying_calls(state, mark):
        executor.run(iam_client, call)
    return state


@needs(*PERMISSIONS["read_role"], "iam:DeleteRole")
def delete_role(iam_client: Any, role_name: str, *, executor: Executor = DIRECT) -> bool:
    """Delete an empty role. Refuses while it holds any policy or is in an instance profile (AWS's
    DeleteConflict; a test backend may allow it). Returns whether it was deleted (``False``: gone)."""
    state = read_role(iam_client, role_name)
    if state is None:
        return False
    _refuse_instance_profiles(state)
    if state.attached or state.inline:
        raise RetirementRefusedError(f"role {role_name} still holds {len(state.attached) + len(state.inline)} policies")
    for call in role_deletion_calls(state):
        executor.run(iam_client, call)
    return True


@needs(*PERMISSIONS["empty_role"], *PERMISSIONS["delete_role"])
def retire_role(
    iam_client: Any, role_name: str, *, mark: Mapping[str, str] | None = None, executor: Executor = DIRECT
) -> RoleState | None:
    """:func:`empty_role` then :func:`delete_role`. Returns the state before, ``None`` if gone."""
    state = empty_role(iam_client, role_name, mark=mark, executor=executor)
    if state is not None:
        delete_role(iam_client, role_name, executor=executor)
    return state


# --- managed policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyVersionState:
    version_id: str
    is_default: bool
    document: Mapping[str, Any] = field(hash=False)
    created: datetime | None = None

    @property
    def number(self) -> int:
        digits = self.version_id.lstrip("vV")
        return int(digits) if digits.isdigit() else 0


@dataclass(frozen=True)
class PolicyState:
    arn: str
    name: str
    path: str = "/"
    description: str = ""
    attachment_count: int = 0
    versions: tuple[PolicyVersionState, ...] = ()

    @property
    def default(self) -> PolicyVersionState | None:
        return next((v for v in self.versions if v.is_default), None)


@needs("iam:GetPolicy", "iam:ListPolicyVersions", "iam:GetPolicyVersion")
def read_policy(iam_client: Any, policy_arn: str) -> PolicyState | None:
    try:
        policy = iam_client.get_policy(PolicyArn=policy_arn)["Policy"]
    except ClientError as exc:
        if is_error(exc, "NoSuchEntity"):
            return None
        raise
    versions = tuple(
        PolicyVersionState(
            version_id=v["VersionId"],
            is_default=bool(v["IsDefaultVersion"]),
            document=_doc(
                iam_client.get_policy_version(PolicyArn=policy_arn, VersionId=v["VersionId"])["PolicyVersion"][
                    "Document"
                ]
            ),
            created=v.get("CreateDate"),
        )
        for v in _pages(iam_client, "list_policy_versions", "Versions", PolicyArn=policy_arn)
    )
    return PolicyState(
        arn=policy_arn,
        name=policy["PolicyName"],
        path=policy.get("Path", "/"),
        description=policy.get("Description") or "",
        attachment_count=int(policy.get("AttachmentCount") or 0),
        versions=versions,
    )


def policy_calls(
    current: PolicyState | None, policy_arn: str, policy_name: str, document: Mapping[str, Any], description: str = ""
) -> list[Call]:
    """The calls that make ``document`` the policy's default version: none when the default
    already grants the same (semantically), the older version that does when one exists, else a new
    version, deleting the oldest non-default one first when IAM's 5-version limit is reached."""
    if current is None:
        params: dict[str, Any] = {"PolicyName": policy_name, "PolicyDocument": json_text(document)}
        path = policy_arn.split(":policy", 1)[-1].rsplit("/", 1)[0] + "/"
        if path != "/":  # the ARN's path, e.g. /ams-iam-audit/ (IAM's default otherwise)
            params["Path"] = path
        if description:
            params["Description"] = description
        return [Call("iam", "create_policy", params, undo=(_iam("delete_policy", PolicyArn=policy_arn),))]
    default = current.default
    if default is not None and _same(default.document, document):
        return []
    back = (
        (_iam("set_default_policy_version", PolicyArn=policy_arn, VersionId=default.version_id),)
        if default is not None
        else ()
    )
    same = next((v for v in current.versions if not v.is_default and _same(v.document, document)), None)
    if same is not None:
        return [_iam("set_default_policy_version", undo=back, PolicyArn=policy_arn, VersionId=same.version_id)]
    calls = []
    if len(current.versions) >= MAX_POLICY_VERSIONS:
        # IAM numbers versions in creation order: the lowest non-default number is the oldest
        oldest = min((v for v in current.versions if not v.is_default), key=lambda v: v.number)
        restore = _iam(
            "create_policy_version", PolicyArn=policy_arn, PolicyDocument=json_text(oldest.document), SetAsDefault=False
        )
        calls.append(_iam("delete_policy_version", undo=(restore,), PolicyArn=policy_arn, VersionId=oldest.version_id))
    calls.append(
        _iam(
            "create_policy_version",
            undo=back,
            PolicyArn=policy_arn,
            PolicyDocument=json_text(document),
            SetAsDefault=True,
        )
    )
    return calls


_ACCOUNTS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def caller_account(client: Any) -> str:
    """The account of ``client``'s own credentials (STS GetCallerIdentity with the same credentials,
    region and, for a non-AWS endpoint such as a local test server, the same endpoint)."""
    if client in _ACCOUNTS:
        return _ACCOUNTS[client]
    credentials = client._request_signer._credentials.get_frozen_credentials()  # the client's own, not ambient
    endpoint = client.meta.endpoint_url
    host = urlparse(endpoint).hostname or ""
    custom = not (host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn"))
    sts = boto3.Session(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        region_name=client.meta.region_name,
    ).client("sts", endpoint_url=endpoint if custom else None)
    account = str(sts.get_caller_identity()["Account"])
    _ACCOUNTS[client] = account
    return account


def _policy_arn(iam_client: Any, account_id: str | None, policy_name: str, path: str) -> str:
    account = account_id or caller_account(iam_client)
    return f"arn:{iam_client.meta.partition}:iam::{account}:policy{path}{policy_name}"


@needs(
    *PERMISSIONS["read_policy"],
    "sts:GetCallerIdentity",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)
def ensure_managed_policy(
    iam_client: Any,
    policy_name: str,
    policy_document: Mapping[str, Any] | str,
    description: str = "",
    *,
    account_id: str | None = None,
    path: str = "/",
    executor: Executor = DIRECT,
) -> tuple[str, bool, bool]:
    """Create the customer managed policy, or make ``policy_document`` its default version (see
    :func:`policy_calls`). Returns ``(arn, created, updated)``."""
    document = _doc(policy_document)
    arn = _policy_arn(iam_client, account_id, policy_name, path)
    current = read_policy(iam_client, arn)
    calls = policy_calls(current, arn, policy_name, document, description)
    for call in calls:
        try:
            executor.run(iam_client, call)
        except ClientError as exc:
            if call.operation == "create_policy" and is_error(exc, "EntityAlreadyExists"):
                return ensure_managed_policy(
                    iam_client,
                    policy_name,
                    document,
                    description,
                    account_id=account_id,
                    path=path,
                    executor=executor,
                )
            raise
    if current is None:
        executor.wait(iam_client, "policy_exists", PolicyArn=arn)
    return arn, current is None, current is not None and bool(calls)


def policy_deletion_calls(state: PolicyState) -> list[Call]:
    """Delete every non-default version, then the policy (IAM requires that order)."""
    default = state.default
    calls = [
        _iam(
            "delete_policy_version",
            undo=(
                _iam(
                    "create_policy_version",
                    PolicyArn=state.arn,
                    PolicyDocument=json_text(v.document),
                    SetAsDefault=False,
                ),
            ),
            PolicyArn=state.arn,
            VersionId=v.version_id,
        )
        for v in sorted(state.versions, key=lambda v: v.number)
        if not v.is_default
    ]
    params: dict[str, Any] = {
        "PolicyName": state.name,
        "Path": state.path,
        "PolicyDocument": json_text(default.document if default else {}),
    }
    if state.description:
        params["Description"] = state.description
    calls.append(_iam("delete_policy", undo=(Call("iam", "create_policy", params),), PolicyArn=state.arn))
    return calls


@needs(*PERMISSIONS["read_policy"], "iam:DeletePolicyVersion", "iam:DeletePolicy")
def delete_managed_policy(iam_client: Any, policy_arn: str, *, executor: Executor = DIRECT) -> PolicyState | None:
    """Delete a customer managed policy and its versions. Refuses while it is attached to anything
    (AWS's rule; a test backend may allow it). Returns the state before, ``None`` if already gone."""
    state = read_policy(iam_client, policy_arn)
    if state is None:
        return None
    if state.attachment_count:
        raise RetirementRefusedError(f"policy {state.name} is still attached to {state.attachment_count} principal(s)")
    for call in policy_deletion_calls(state):
        executor.run(iam_client, call)
    return state


# --- inline policies ------------------------------------------------------------------------------

INLINE_KEY = {"role": "RoleName", "user": "UserName", "group": "GroupName"}


@needs(
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    "iam:GetGroupPolicy",
    "iam:PutGroupPolicy",
)
def ensure_inline_policy(
    iam_client: Any,
    role_name: str,
    policy_name: str,
    policy_document: Mapping[str, Any] | str,
    *,
    holder: str = "role",
    executor: Executor = DIRECT,
) -> tuple[bool, bool]:
    """Put the inline policy on the role (or, with ``holder="user"``/``"group"``, on that
    principal) unless it already holds the same document. Returns ``(created, updated)``."""
    if holder not in INLINE_KEY:
        raise ValueError(f"holder must be one of {', '.join(INLINE_KEY)}, not {holder!r}")
    key = {INLINE_KEY[holder]: role_name, "PolicyName": policy_name}
    document = _doc(policy_document)
    try:
        current: dict[str, Any] | None = _doc(getattr(iam_client, f"get_{holder}_policy")(**key)["PolicyDocument"])
    except ClientError as exc:
        if not is_error(exc, "NoSuchEntity"):
            raise
        current = None
    if _same(current, document):
        return False, False
    undo = (
        Call("iam", f"delete_{holder}_policy", key)
        if current is None
        else Call("iam", f"put_{holder}_policy", {**key, "PolicyDocument": json_text(current)})
    )
    executor.run(
        iam_client, Call("iam", f"put_{holder}_policy", {**key, "PolicyDocument": json_text(document)}, undo=(undo,))
    )
    return current is None, current is not None


# --- users ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserState:
    name: str
    path: str = "/"
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    access_keys: tuple[tuple[str, str], ...] = ()  # (access key id, status)
    login_profile: bool = False
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    groups: tuple[str, ...] = ()
    attached: tuple[str, ...] = ()
    mfa_devices: tuple[str, ...] = ()
    signing_certificates: Mapping[str, str] = field(default_factory=dict, hash=False)  # id -> body
    ssh_public_keys: Mapping[str, str] = field(default_factory=dict, hash=False)  # id -> body
    service_credentials: tuple[str, ...] = ()


_READ_USER = (
    "iam:GetUser",
    "iam:ListUserTags",
    "iam:ListAccessKeys",
    "iam:GetLoginProfile",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:ListGroupsForUser",
    "iam:ListAttachedUserPolicies",
    "iam:ListMFADevices",
    "iam:ListSigningCertificates",
    "iam:ListSSHPublicKeys",
    "iam:GetSSHPublicKey",
    "iam:ListServiceSpecificCredentials",
)


@needs(*_READ_USER)
def read_user(iam_client: Any, user_name: str) -> UserState | None:
    """Everything AWS requires to be removed before DeleteUser succeeds."""
    try:
        user = iam_client.get_user(UserName=user_name)["User"]
    except ClientError as exc:
        if is_error(exc, "NoSuchEntity"):
            return None
        raise
    u: dict[str, Any] = {"UserName": user_name}
    try:
        iam_client.get_login_profile(**u)
        login = True
    except ClientError as exc:
        if not is_error(exc, "NoSuchEntity"):
            raise
        login = False
    ssh = {
        k["SSHPublicKeyId"]: iam_client.get_ssh_public_key(
            UserName=user_name, SSHPublicKeyId=k["SSHPublicKeyId"], Encoding="SSH"
        )["SSHPublicKey"]["SSHPublicKeyBody"]
        for k in _pages(iam_client, "list_ssh_public_keys", "SSHPublicKeys", **u)
    }
    return UserState(
        name=user_name,
        path=user.get("Path", "/"),
        tags={t["Key"]: t["Value"] for t in _pages(iam_client, "list_user_tags", "Tags", **u)},
        access_keys=tuple(
            (k["AccessKeyId"], k["Status"]) for k in _pages(iam_client, "list_access_keys", "AccessKeyMetadata", **u)
        ),
        login_profile=login,
        inline={
            name: _doc(iam_client.get_user_policy(UserName=user_name, PolicyName=name)["PolicyDocument"])
            for name in _pages(iam_client, "list_user_policies", "PolicyNames", **u)
        },
        groups=tuple(g["GroupName"] for g in _pages(iam_client, "list_groups_for_user", "Groups", **u)),
        attached=tuple(
            p["PolicyArn"] for p in _pages(iam_client, "list_attached_user_policies", "AttachedPolicies", **u)
        ),
        mfa_devices=tuple(d["SerialNumber"] for d in _pages(iam_client, "list_mfa_devices", "MFADevices", **u)),
        signing_certificates={
            c["CertificateId"]: c["CertificateBody"]
            for c in _pages(iam_client, "list_signing_certificates", "Certificates", **u)
        },
        ssh_public_keys=ssh,
        service_credentials=_service_credentials(iam_client, user_name),
    )


def _service_credentials(iam_client: Any, user_name: str) -> tuple[str, ...]:
    """Service-specific credentials (CodeCommit, Keyspaces passwords). An endpoint that does not
    implement the call (some test backends) has none to list; if AWS had any, DeleteUser would
    refuse with DeleteConflict, and the retirement reports that."""
    try:
        found = iam_client.list_service_specific_credentials(UserName=user_name)
    except (ClientError, ResponseParserError) as exc:
        if isinstance(exc, ClientError) and not is_error(exc, "NotImplemented", "InternalFailure"):
            raise
        return ()
    return tuple(c["ServiceSpecificCredentialId"] for c in found.get("ServiceSpecificCredentials", ()))


_KEY_GONE = "an access key's secret cannot come back: issue a new key if the user is restored"


def key_deactivation_calls(user_name: str, keys: Iterable[tuple[str, str]]) -> list[Call]:
    """Each active key of ``keys`` ((id, status) pairs) made inactive, each undone by making it
    active again: the reversible first step of every retirement of a user."""
    u: dict[str, Any] = {"UserName": user_name}
    return [
        _iam(
            "update_access_key",
            undo=(_iam("update_access_key", **u, AccessKeyId=key, Status="Active"),),
            **u,
            AccessKeyId=key,
            Status="Inactive",
        )
        for key, status in keys
        if status == "Active"
    ]


def user_retirement_calls(state: UserState) -> list[Call]:
    """AWS's order for deleting a user: deactivate its keys first (a failing caller shows up as an
    error, not as a missing user), then remove the login profile, keys, MFA devices, certificates,
    SSH keys, service credentials, inline policies, group memberships and attached policies, then the
    user itself."""
    name = state.name
    u: dict[str, Any] = {"UserName": name}
    calls = key_deactivation_calls(name, state.access_keys)
    if state.login_profile:
        calls.append(_iam("delete_login_profile", irreversible="a console password cannot be restored", **u))
    calls += [_iam("delete_access_key", irreversible=_KEY_GONE, **u, AccessKeyId=k) for k, _ in state.access_keys]
    calls += [
        _iam(
            "deactivate_mfa_device",
            irreversible="re-enabling an MFA device needs two codes from it",
            **u,
            SerialNumber=serial,
        )
        for serial in state.mfa_devices
    ]
    calls += [
        _iam(
            "delete_signing_certificate",
            undo=(_iam("upload_signing_certificate", **u, CertificateBody=body),),
            **u,
            CertificateId=cert,
        )
        for cert, body in state.signing_certificates.items()
    ]
    calls += [
        _iam(
            "delete_ssh_public_key",
            undo=(_iam("upload_ssh_public_key", **u, SSHPublicKeyBody=body),),
            **u,
            SSHPublicKeyId=key,
        )
        for key, body in state.ssh_public_keys.items()
    ]
    calls += [
        _iam(
            "delete_service_specific_credential",
            irreversible="a service-specific password cannot be restored",
            **u,
            ServiceSpecificCredentialId=c,
        )
        for c in state.service_credentials
    ]
    calls += [
        _iam(
            "delete_user_policy",
            undo=(_iam("put_user_policy", **u, PolicyName=p, PolicyDocument=json_text(doc)),),
            **u,
            PolicyName=p,
        )
        for p, doc in state.inline.items()
    ]
    calls += [
        _iam("remove_user_from_group", undo=(_iam("add_user_to_group", **u, GroupName=g),), **u, GroupName=g)
        for g in state.groups
    ]
    calls += [
        _iam("detach_user_policy", undo=(_iam("attach_user_policy", **u, PolicyArn=arn),), **u, PolicyArn=arn)
        for arn in state.attached
    ]
    create: dict[str, Any] = {"UserName": name, "Path": state.path}
    if state.tags:
        create["Tags"] = _tags(state.tags)
    calls.append(_iam("delete_user", undo=(Call("iam", "create_user", create),), **u))
    return calls


@needs(
    *_READ_USER,
    "iam:UpdateAccessKey",
    "iam:DeleteLoginProfile",
    "iam:DeleteAccessKey",
    "iam:DeactivateMFADevice",
    "iam:DeleteSigningCertificate",
    "iam:DeleteSSHPublicKey",
    "iam:DeleteServiceSpecificCredential",
    "iam:DeleteUserPolicy",
    "iam:RemoveUserFromGroup",
    "iam:DetachUserPolicy",
    "iam:DeleteUser",
)
def retire_user(iam_client: Any, user_name: str, *, executor: Executor = DIRECT) -> UserState | None:
    """Delete ``user_name`` in AWS's order (:func:`user_retirement_calls`), checking before the last
    call that no access key is left (AWS refuses then; a test backend may not). Returns the state
    before, or ``None`` when the user was already gone."""
    state = read_user(iam_client, user_name)
    if state is None:
        return None
    *removals, delete = user_retirement_calls(state)
    for call in removals:
        executor.run(iam_client, call)
    left = list(_pages(iam_client, "list_access_keys", "AccessKeyMetadata", UserName=user_name))
    if left:
        raise RetirementRefusedError(f"user {user_name} still has {len(left)} access key(s); not deleted")
    executor.run(iam_client, delete)
    return state


# --- buckets --------------------------------------------------------------------------------------


@needs("s3:ListBucket", "s3:ListAllMyBuckets", "s3:CreateBucket", "s3:PutBucketPublicAccessBlock")
def ensure_bucket(s3_client: Any, bucket_name: str, region: str, *, executor: Executor = DIRECT) -> bool:
    """Create ``bucket_name`` in ``region`` unless this account already owns it. Returns whether it
    was created. A new bucket gets every public access block setting on. Raises
    :class:`BucketOwnedElsewhereError` when another account owns the name, and treats a bucket that
    appears concurrently (``BucketAlreadyOwnedByYou``) as already there."""
    try:
        s3_client.head_bucket(Bucket=bucket_name)
        exists = True
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketOwnedElsewhereError(
                f"bucket {bucket_name} exists but this account cannot reach it: another account owns the name"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    if exists:
        ours = {b["Name"] for b in _pages(s3_client, "list_buckets", "Buckets", Prefix=bucket_name)}
        if bucket_name not in ours:
            raise BucketOwnedElsewhereError(f"bucket {bucket_name} is owned by another account")
        return False
    params: dict[str, Any] = {"Bucket": bucket_name}
    if region != "us-east-1":  # us-east-1 takes no location constraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        executor.run(
            s3_client,
            Call(
                "s3",
                "create_bucket",
                params,
                region=region,
                undo=(Call("s3", "delete_bucket", {"Bucket": bucket_name}, region=region),),
            ),
        )
    except ClientError as exc:
        if is_error(exc, "BucketAlreadyOwnedByYou"):
            return False
        if is_error(exc, "BucketAlreadyExists"):
            raise BucketOwnedElsewhereError(f"bucket {bucket_name} is owned by another account") from None
        raise
    block = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
    executor.run(
        s3_client,
        Call(
            "s3",
            "put_public_access_block",
            {"Bucket": bucket_name, "PublicAccessBlockConfiguration": block},
            region=region,
        ),
    )
    return True


@needs("s3:GetBucketPolicy", "s3:PutBucketPolicy")
def ensure_bucket_policy(
    s3_client: Any, bucket_name: str, policy_document: Mapping[str, Any] | str, *, executor: Executor = DIRECT
) -> bool:
    """Make ``policy_document`` the bucket's policy unless it already grants the same. Returns
    whether it changed."""
    document = _doc(policy_document)
    try:
        current: dict[str, Any] | None = _doc(s3_client.get_bucket_policy(Bucket=bucket_name)["Policy"])
    except ClientError as exc:
        if not is_error(exc, "NoSuchBucketPolicy"):
            raise
        current = None
    if _same(current, document):
        return False
    undo = (
        Call("s3", "delete_bucket_policy", {"Bucket": bucket_name})
        if current is None
        else Call("s3", "put_bucket_policy", {"Bucket": bucket_name, "Policy": json_text(current)})
    )
    executor.run(
        s3_client, Call("s3", "put_bucket_policy", {"Bucket": bucket_name, "Policy": json_text(document)}, undo=(undo,))
    )
    return True


# --- how recently a role was used -----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccess:
    """What IAM's service last accessed data says of one principal: its most recent access to any
    service (``None``: none in IAM's tracking period), or why there is no answer (``unavailable``)."""

    arn: str
    last_used: datetime | None = None
    service: str | None = None
    region: str | None = None
    unavailable: str | None = None


def _why(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message') or exc}".splitlines()[0][:300]
    if isinstance(exc, ResponseParserError):
        return "the endpoint's answer is not IAM's (it may not implement the call)"
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _service_details(iam_client: Any, arn: str, job_id: str) -> ServiceAccess | None:
    """The job's answer, every page read; ``None`` while it is still running."""
    latest: tuple[datetime, str | None, str | None] | None = None
    marker: str | None = None
    while True:
        page = iam_client.get_service_last_accessed_details(JobId=job_id, **({"Marker": marker} if marker else {}))
        status = page.get("JobStatus")
        if status == "IN_PROGRESS":
            return None
        if status != "COMPLETED":
            message = (page.get("Error") or {}).get("Message") or status
            return ServiceAccess(arn, unavailable=f"the job ended {status}: {message}")
        for entry in page.get("ServicesLastAccessed") or ():
            when = _when(entry.get("LastAuthenticated"))
            if when is not None and (latest is None or when > latest[0]):
                latest = (when, entry.get("ServiceNamespace"), entry.get("LastAuthenticatedRegion"))
        marker = page.get("Marker")
        if not page.get("IsTruncated"):
            break
        if not marker:
            return ServiceAccess(arn, unavailable="a truncated answer without a Marker")
    if latest is None:
        return ServiceAccess(arn)
    return ServiceAccess(arn, last_used=latest[0], service=latest[1], region=latest[2])


@needs("iam:GenerateServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetails")
def services_last_accessed(
    iam_client: Any,
    arns: Iterable[str],
    *,
    deadline_seconds: float = 60.0,
    delay_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, ServiceAccess]:
    """When each principal in ``arns`` last accessed any AWS service, from IAM's service last
    accessed data: one job per principal, all started first, then polled together every
    ``delay_seconds`` until ``deadline_seconds`` have passed. A principal whose job is denied, not
    implemented by the endpoint, failed or not finished in time gets ``unavailable`` with the reason;
    callers then judge by ``RoleLastUsed`` alone and say so."""
    results: dict[str, ServiceAccess] = {}
    jobs: dict[str, str] = {}
    for arn in dict.fromkeys(arns):
        try:
            jobs[arn] = str(iam_client.generate_service_last_accessed_details(Arn=arn)["JobId"])
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            results[arn] = ServiceAccess(arn, unavailable=_why(exc))
    end = clock() + deadline_seconds
    while jobs:
        for arn, job_id in list(jobs.items()):
            try:
                answer = _service_details(iam_client, arn, job_id)
            except (ClientError, BotoCoreError, ResponseParserError) as exc:
                answer = ServiceAccess(arn, unavailable=_why(exc))
            if answer is not None:
                results[arn] = answer
                del jobs[arn]
        if jobs and clock() >= end:
            for arn in jobs:
                results[arn] = ServiceAccess(arn, unavailable=f"the job did not finish within {deadline_seconds:g} s")
            break
        if jobs:
            sleep(delay_seconds)
    return results


# --- the account's fix lock -----------------------------------------------------------------------

#: The marker policy whose existence is the lock: IAM's CreatePolicy fails with EntityAlreadyExists
#: when the name is taken, which makes taking it atomic. It is attached to nothing and grants nothing.
LOCK_POLICY_NAME = "ams-iam-audit-fix-lock"
LOCK_PATH = "/ams-iam-audit/"
_LOCK_RUN, _LOCK_HOST, _LOCK_PID, _LOCK_TAKEN, _LOCK_EXPIRES = (
    f"ams-iam-audit:lock-{k}" for k in ("run", "host", "pid", "taken", "expires")
)


def lock_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:policy{LOCK_PATH}{LOCK_POLICY_NAME}"


@dataclass(frozen=True)
class FixLock:
    """Who holds an account's fix lock, as its marker policy's tags say."""

    arn: str
    run_id: str
    host: str = "?"
    pid: str = "?"
    taken_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def describe(self, now: datetime) -> str:
        def when(t: datetime | None) -> str:
            return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "unknown"

        left = ""
        if self.expires_at is not None and not self.expired(now):
            minutes = int((self.expires_at - now).total_seconds() // 60)
            left = f" (in {minutes // 60} h {minutes % 60} min)"
        return (
            f"run {self.run_id} on host {self.host} (pid {self.pid}), taken {when(self.taken_at)}, "
            f"expires {when(self.expires_at)}{left}"
        )


class FixLockHeldError(RuntimeError):
    """Another run holds the account's fix lock (``holder``), or it could not be taken."""

    def __init__(self, message: str, holder: FixLock | None = None) -> None:
        super().__init__(message)
        self.holder = holder


def _parse_time(value: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@needs("iam:GetPolicy")
def read_fix_lock(iam_client: Any, arn: str, *, ttl: timedelta = timedelta(hours=2)) -> FixLock | None:
    """The lock's holder, or ``None`` when no run holds it. A marker without a readable expiry
    expires ``ttl`` after it was created."""
    try:
        policy = iam_client.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if is_error(exc, "NoSuchEntity"):
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in policy.get("Tags") or ()}
    created = _when(policy.get("CreateDate"))
    expires = _parse_time(tags.get(_LOCK_EXPIRES)) or (created + ttl if created else None)
    return FixLock(
        arn=arn,
        run_id=tags.get(_LOCK_RUN, "unknown"),
        host=tags.get(_LOCK_HOST, "?"),
        pid=tags.get(_LOCK_PID, "?"),
        taken_at=_parse_time(tags.get(_LOCK_TAKEN)) or created,
        expires_at=expires,
    )


def _lock_create_call(lock: FixLock) -> Call:
    assert lock.taken_at is not None
    assert lock.expires_at is not None
    name = lock.arn.rsplit("/", 1)[1]
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AmsIamAuditFixLockMarker", "Effect": "Deny", "Action": "iam:CreatePolicy", "Resource": lock.arn}
        ],
    }
    tags = {
        _LOCK_RUN: lock.run_id,
        _LOCK_HOST: lock.host,
        _LOCK_PID: lock.pid,
        _LOCK_TAKEN: lock.taken_at.isoformat(),
        _LOCK_EXPIRES: lock.expires_at.isoformat(),
    }
    return _iam(
        "create_policy",
        PolicyName=name,
        Path=LOCK_PATH,
        PolicyDocument=json_text(document),
        Description=(
            f"ams-iam-audit --fix lock: run {lock.run_id} on {lock.host} changes this account until "
            f"{lock.expires_at.isoformat()}. Attached to nothing; the run deletes it when it ends, and a "
            "later run takes it over once expired."
        )[:1000],
        Tags=_tags(tags),
    )


@needs("iam:GetPolicy", "iam:CreatePolicy", "iam:TagPolicy", "iam:DeletePolicy")
def acquire_fix_lock(
    iam_client: Any,
    arn: str,
    run_id: str,
    *,
    host: str,
    pid: str,
    ttl: timedelta,
    now: datetime | None = None,
    executor: Executor = DIRECT,
) -> tuple[FixLock, FixLock | None]:
    """Take the account's fix lock by creating its marker policy (:data:`LOCK_POLICY_NAME`), which
    IAM creates only if no policy of that name exists. Returns our lock and the expired lock of
    another run this one took over (deleted, then created again as ours), or ``None``. Raises
    :class:`FixLockHeldError` while another run's lock has not expired, or when another run took
    it between our reads."""
    now = now or datetime.now(UTC)
    current = read_fix_lock(iam_client, arn, ttl=ttl)
    if current is not None and not current.expired(now):
        raise FixLockHeldError(f"another --fix holds this account's lock ({current.describe(now)})", current)
    if current is not None:
        try:
            executor.run(iam_client, _iam("delete_policy", PolicyArn=arn))
        except ClientError as exc:
            if not is_error(exc, "NoSuchEntity"):  # gone already: another run released or took it over
                raise
    ours = FixLock(arn=arn, run_id=run_id, host=host, pid=pid, taken_at=now, expires_at=now + ttl)
    try:
        executor.run(iam_client, _lock_create_call(ours))
    except ClientError as exc:
        if not is_error(exc, "EntityAlreadyExists"):
            raise
        holder = read_fix_lock(iam_client, arn, ttl=ttl)
        where = holder.describe(now) if holder else "released since"
        raise FixLockHeldError(f"another --fix took this account's lock first ({where})", holder) from None
    check = read_fix_lock(iam_client, arn, ttl=ttl)
    if check is None or check.run_id != run_id:
        where = check.describe(now) if check else "deleted by someone else"
        raise FixLockHeldError(f"this account's lock was taken from this run at once ({where})", check)
    return ours, current


@needs("iam:GetPolicy", "iam:DeletePolicy")
def release_fix_lock(iam_client: Any, arn: str, run_id: str, *, executor: Executor = DIRECT) -> bool:
    """Delete the lock's marker policy if this run (``run_id``) still holds it. Returns whether it did."""
    current = read_fix_lock(iam_client, arn)
    if current is None or current.run_id != run_id:
        return False
    executor.run(iam_client, _iam("delete_policy", PolicyArn=arn))
    return True


PERMISSIONS["get_execution_session"] = ("sts:AssumeRole",)
