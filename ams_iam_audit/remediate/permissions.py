"""The least-privilege IAM policy for running ``pytest --aws-account … --fix``: what collection reads
(``inventory.collect.READ_PERMISSIONS``) plus what each function a fix calls declares
(``iam_utils.PERMISSIONS``, ``consumers.PERMISSIONS``). Printed by ``ams-iam-audit fix-policy``."""

from __future__ import annotations

from typing import Any

from .. import iam_utils
from ..aimodelshare import EXECUTION_ROLE_NAME
from ..inventory.collect import READ_PERMISSIONS
from . import consumers, users

__all__ = ["EXECUTION_ROLE_FIX", "EXECUTION_ROLE_RESOURCE", "FIX_FUNCTIONS", "fix_actions", "fix_policy"]

#: The iam_utils functions the fix actions call.
FIX_FUNCTIONS = (
    "ensure_role",
    "ensure_managed_policy",
    "attach_managed_policy_to_role",
    "retain_only_role_policies",
    "retire_role",
    "retire_user",
    "delete_managed_policy",
    "ensure_inline_policy",
    "ensure_bucket_policy",
    "services_last_accessed",
    "acquire_fix_lock",
    "release_fix_lock",
)


#: The execution role ``--fix --fix-execution-role-trust`` creates or re-trusts (migration step 1):
#: the iam_utils function it calls, and the one role it touches (for scoping this policy's resources).
EXECUTION_ROLE_FIX = ("ensure_role",)
EXECUTION_ROLE_RESOURCE = f"arn:aws:iam::*:role/{EXECUTION_ROLE_NAME}"


def fix_actions() -> list[str]:
    actions = set(READ_PERMISSIONS)
    for name in (*FIX_FUNCTIONS, *EXECUTION_ROLE_FIX):
        actions.update(iam_utils.PERMISSIONS[name])
    for needed in (*consumers.PERMISSIONS.values(), *users.PERMISSIONS.values()):
        actions.update(needed)
    return sorted(actions)


def fix_policy() -> dict[str, Any]:
    """One statement per service, so a reviewer can read what each service is asked for."""
    by_service: dict[str, list[str]] = {}
    for action in fix_actions():
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"AmsIamAuditFix{service.capitalize()}", "Effect": "Allow", "Action": actions, "Resource": "*"}
            for service, actions in sorted(by_service.items())
        ],
    }
