"""IAM users: read one, and retire it in AWS's order (keys deactivated first, then every credential
and attachment, then the user)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from ._common import (
    RetirementRefusedError,
    _doc,
    _iam,
    _pages,
    _tags,
    json_text,
    needs,
)
from .changes import DIRECT, Call, Executor, is_error

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


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
def read_user(iam_client: IAMClient, user_name: str) -> UserState | None:
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


def _service_credentials(iam_client: IAMClient, user_name: str) -> tuple[str, ...]:
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
def retire_user(iam_client: IAMClient, user_name: str, *, executor: Executor = DIRECT) -> UserState | None:
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
