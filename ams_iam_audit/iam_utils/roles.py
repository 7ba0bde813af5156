"""Roles: read one, bring it to a wanted state (``ensure_role``, attachments, trimming), empty and
retire it; and how recently it was used (IAM's service last accessed data)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from ._common import (
    PERMISSIONS,
    RetirementRefusedError,
    _doc,
    _iam,
    _pages,
    _same,
    _tags,
    _when,
    json_text,
    needs,
)
from .changes import DIRECT, Call, Executor, is_error

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


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
def read_role(iam_client: IAMClient, role_name: str, *, full: bool = True) -> RoleState | None:
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
    iam_client: IAMClient,
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
    iam_client: IAMClient, role_name: str, policy_arn: str, *, executor: Executor = DIRECT
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
    iam_client: IAMClient,
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


def _refuse_instance_profiles(state: RoleState) -> None:
    if state.instance_profiles:
        raise RetirementRefusedError(
            f"role {state.name} is in instance profile(s) {', '.join(state.instance_profiles)}: EC2 may use it"
        )


@needs(*PERMISSIONS["read_role"], "iam:TagRole", "iam:DetachRolePolicy", "iam:DeleteRolePolicy")
def empty_role(
    iam_client: IAMClient,
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
def delete_role(iam_client: IAMClient, role_name: str, *, executor: Executor = DIRECT) -> bool:
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
    iam_client: IAMClient, role_name: str, *, mark: Mapping[str, str] | None = None, executor: Executor = DIRECT
) -> RoleState | None:
    """:func:`empty_role` then :func:`delete_role`. Returns the state before, ``None`` if gone."""
    state = empty_role(iam_client, role_name, mark=mark, executor=executor)
    if state is not None:
        delete_role(iam_client, role_name, executor=executor)
    return state


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


def _service_details(iam_client: IAMClient, arn: str, job_id: str) -> ServiceAccess | None:
    """The job's answer, every page read; ``None`` while it is still running."""
    latest: tuple[datetime, str | None, str | None] | None = None
    marker: str | None = None
    while True:
        page = (
            iam_client.get_service_last_accessed_details(JobId=job_id, Marker=marker)
            if marker
            else iam_client.get_service_last_accessed_details(JobId=job_id)
        )
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
    iam_client: IAMClient,
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
