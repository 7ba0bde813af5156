"""Managed policies (read, ensure with semantic comparison and IAM's version limit, delete) and
inline policies of roles, users and groups."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from ._common import (
    PERMISSIONS,
    RetirementRefusedError,
    _doc,
    _iam,
    _pages,
    _same,
    json_text,
    needs,
)
from .changes import DIRECT, Call, Executor, is_error

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_iam import IAMClient


#: IAM keeps at most this many versions of a managed policy.
MAX_POLICY_VERSIONS = 5


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
def read_policy(iam_client: IAMClient, policy_arn: str) -> PolicyState | None:
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


def caller_account(client: BaseClient) -> str:
    """The account of ``client``'s own credentials (STS GetCallerIdentity with the same credentials,
    region and, for a non-AWS endpoint such as a local test server, the same endpoint)."""
    if client in _ACCOUNTS:
        return _ACCOUNTS[client]
    # the client's own credentials, not ambient ones (botocore keeps them on its signer; no public accessor)
    credentials = cast(Any, client)._request_signer._credentials.get_frozen_credentials()
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


def _policy_arn(iam_client: IAMClient, account_id: str | None, policy_name: str, path: str) -> str:
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
    iam_client: IAMClient,
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
def delete_managed_policy(iam_client: IAMClient, policy_arn: str, *, executor: Executor = DIRECT) -> PolicyState | None:
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
    iam_client: IAMClient,
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
