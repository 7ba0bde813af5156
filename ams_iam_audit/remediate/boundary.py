"""Tightening that lasts: each shared role's permissions boundary holds its desired state.

The refactored library calls ``ensure_managed_policy`` with its own, broader documents on every
deployment, so a shared policy ``--fix`` tightened is widened again by the next deploy. Its
``ensure_role`` only creates a role or replaces its trust policy: it never touches a permissions
boundary. So ``--fix`` also creates ``<role>-boundary`` under ``aimodelshare.BOUNDARY_PATH`` holding the
desired document and sets it as the role's boundary; whatever the role's own policy says later, the
role can do no more than the desired state (AMS-SHARED-004 checks the boundary, AMS-SHARED-005 tells
a widening after a fix apart).

A role that already has another boundary (an operator's own) keeps it: ``--fix`` never replaces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..iam_utils.changes import DIRECT, Call, Executor

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


__all__ = ["PERMISSIONS", "boundary_calls", "current_boundary", "ensure_role_boundary"]

#: function name -> the IAM actions it calls, for ``ams-iam-audit fix-policy``.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "ensure_role_boundary": ("iam:DeleteRolePermissionsBoundary", "iam:GetRole", "iam:PutRolePermissionsBoundary"),
}


def boundary_calls(role_name: str, current: str | None, boundary_arn: str) -> list[Call]:
    """The call that sets ``boundary_arn`` on a role whose boundary is ``current``: none when it is
    already set, or when the role has another boundary (left to its owner)."""
    if current is not None:
        return []
    undo = Call("iam", "delete_role_permissions_boundary", {"RoleName": role_name})
    return [
        Call(
            "iam",
            "put_role_permissions_boundary",
            {"RoleName": role_name, "PermissionsBoundary": boundary_arn},
            undo=(undo,),
        )
    ]


def current_boundary(iam_client: IAMClient, role_name: str) -> str | None:
    """The role's permissions boundary ARN as IAM says it now, or ``None``."""
    role = iam_client.get_role(RoleName=role_name)["Role"]
    boundary = role.get("PermissionsBoundary") or {}
    arn = boundary.get("PermissionsBoundaryArn")
    return str(arn) if arn else None


def ensure_role_boundary(
    iam_client: IAMClient, role_name: str, boundary_arn: str, *, executor: Executor = DIRECT
) -> bool:
    """Set ``boundary_arn`` as the role's permissions boundary unless it has one; returns whether it
    was set by this call."""
    calls = boundary_calls(role_name, current_boundary(iam_client, role_name), boundary_arn)
    for call in calls:
        executor.run(iam_client, call)
    return bool(calls)
