"""The least-privilege IAM policy for running ``pytest --aws-account … --fix``: what collection reads
(``inventory.collect.READ_PERMISSIONS``), what every kind of fix action declares it calls
(``plan.ACTION_KINDS``, each ``Action.permissions`` made of what the functions it calls declare:
``iam_utils.PERMISSIONS``, ``users.PERMISSIONS``, ``boundary.PERMISSIONS``), what re-pointing each
consumer kind needs (``consumers.PERMISSIONS``), and the fix lock taken around every plan
(:data:`RUN_FUNCTIONS`). Printed by ``ams-iam-audit fix-policy``.

Every write is scoped to what ``--fix`` touches, so the policy passes the tool's own rules
(AMS-PRIV-002 flags permissions-management actions on every role, user or policy):

* reads (policy_sentry's ``Read`` and ``List`` access levels, and any action with no resource type)
  stay on ``*``, in one statement: the audit reads the whole account;
* each write goes to the statement of its resource type (policy_sentry's ARN format for the action),
  whose resources are :data:`WRITE_SCOPES`: the shared roles, their policies and boundaries, the
  execution role, the fix lock, and the legacy names (``aimodelshare``: one home for them);
* ``iam:PassRole`` only for the shared roles, only to the services they trust.

A new kind of action declares its permissions beside its code (``Action.permissions``) and is in
the policy; one that writes somewhere else adds its ARNs to :data:`WRITE_SCOPES` (or a new resource
type there): :func:`fix_policy` refuses an action it cannot place.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from policy_sentry.querying.actions import get_action_data

from .. import aimodelshare, iam_utils
from ..inventory.collect import READ_PERMISSIONS
from ..policy.actions import action_info
from . import consumers
from .plan import ACTION_KINDS

__all__ = [
    "ANY_ACCOUNT",
    "NOT_GRANTED",
    "RUN_FUNCTIONS",
    "WRITE_SCOPES",
    "fix_actions",
    "fix_policy",
    "resource_type",
    "write_scopes",
]

#: The iam_utils functions ``--fix`` calls around every plan, whatever its actions: the account's
#: fix lock (``fixing``), taken before the first change and released after the last.
RUN_FUNCTIONS = ("acquire_fix_lock", "release_fix_lock")

#: Actions a fix function can call that the printed policy leaves out, and why.
NOT_GRANTED = {
    "iam:PutGroupPolicy": "the library owns no group: a group's inline policy is rewritten only with --fix-unowned",
    "iam:RemoveUserFromGroup": (
        "the library never puts its users in groups, and IAM scopes this action by group (any group would be every "
        "group): take such a user out of its groups by hand"
    ),
}

#: the account in ARNs when none is given: the printed policy then serves any account
ANY_ACCOUNT = "*"


def _iam(account: str, kind: str, *names: str) -> tuple[str, ...]:
    return tuple(f"arn:aws:iam::{account}:{kind}/{name}" for name in names)


def _shared_roles(account: str) -> tuple[str, ...]:
    return _iam(account, "role", *sorted(aimodelshare.shared_role_names()))


@cache
def write_scopes(account: str = ANY_ACCOUNT) -> dict[str, tuple[str, ...]]:
    """resource type (``service:type``) -> the ARNs --fix writes to, in ``account``."""
    lock_path = aimodelshare.BOUNDARY_PATH.strip("/")
    return {
        # shared roles (ensured, trimmed, bounded) and the legacy per-deployment roles (emptied, deleted)
        "iam:role": _shared_roles(account)
        + _iam(account, "role", aimodelshare.EXECUTION_ROLE_NAME, *aimodelshare.legacy_role_globs()),
        # shared policies, the legacy and temporary-access policies, and the tool's own (boundaries, lock)
        "iam:policy": _iam(
            account,
            "policy",
            *sorted(aimodelshare.shared_policy_names()),
            *aimodelshare.legacy_policy_globs(),
            aimodelshare.EPHEMERAL_POLICY_GLOB,
            f"{lock_path}/*",
        ),
        "iam:user": _iam(account, "user", aimodelshare.EPHEMERAL_USER_GLOB),
        # consumers re-pointed to a shared role (any name: iam:PassRole limits what they can be given)
        "lambda:function": (f"arn:aws:lambda:*:{account}:function:*",),
        "codebuild:project": (f"arn:aws:codebuild:*:{account}:project/*",),
        "apigateway:restapis": ("arn:aws:apigateway:*::/restapis", "arn:aws:apigateway:*::/restapis/*"),
        "s3:bucket": (f"arn:aws:s3:::{aimodelshare.BUCKET_PREFIX}*",),
    }


#: resource type (``service:type``) -> the ARNs --fix writes to, in any account.
WRITE_SCOPES = write_scopes()


def fix_actions() -> list[str]:
    """Every IAM action ``--fix`` may call, reads included: collection's reads, every action kind's
    permissions, every consumer kind's re-pointing, and the fix lock's."""
    actions = set(READ_PERMISSIONS)
    for kind in ACTION_KINDS.values():
        actions.update(kind.permissions)
    for needed in consumers.PERMISSIONS.values():
        actions.update(needed)
    for name in RUN_FUNCTIONS:
        actions.update(iam_utils.PERMISSIONS[name])
    return sorted(actions)


@cache
def resource_type(action: str) -> str | None:
    """``service:type`` of the resource ``action`` is authorised on (policy_sentry's ARN format:
    ``iam:role``, ``lambda:function``; every API Gateway path is ``apigateway:restapis``), or
    ``None`` when it takes no resource (only ``*`` applies)."""
    service, name = action.split(":", 1)
    if service == "apigateway":
        return "apigateway:restapis"
    rows = get_action_data(service, name).get(service, [])
    formats = [r["resource_arn_format"] for r in rows if r["resource_arn_format"] != "*"]
    if not formats:
        return None
    tail = formats[0].split(":", 5)[-1]  # "role/${RoleNameWithPath}", "function:${FunctionName}", "${BucketName}"
    kind = tail.split("/", 1)[0].split(":", 1)[0]
    return f"{service}:{'bucket' if kind.startswith('${') else kind}"


def _is_read(action: str) -> bool:
    info = action_info(action)
    if info is None:
        raise LookupError(f"{action} is not in policy_sentry's catalogue")
    return info.access_level in ("Read", "List") or info.wildcard_only


def fix_policy(account_id: str | None = None) -> dict[str, Any]:
    """Reads on ``*`` in one statement; writes in one statement per resource type, on the resources
    --fix touches in ``account_id`` (any account when ``None``); ``iam:PassRole`` on the shared roles,
    to the services they trust. Bucket names are global, so the bucket statement is pinned to the
    account with ``aws:ResourceAccount`` (the account id, or ``${aws:PrincipalAccount}``)."""
    account = account_id or ANY_ACCOUNT
    scopes = write_scopes(account)
    reads: list[str] = []
    writes: dict[str, list[str]] = {}
    for action in fix_actions():
        if action in NOT_GRANTED or action == "iam:PassRole":
            continue
        if _is_read(action):
            reads.append(action)
            continue
        kind = resource_type(action)
        if kind is None or kind not in scopes:
            raise LookupError(f"{action} writes to {kind or 'no resource type'}: add its ARNs to WRITE_SCOPES")
        writes.setdefault(kind, []).append(action)
    statements: list[dict[str, Any]] = [{"Sid": "AmsIamAuditRead", "Effect": "Allow", "Action": reads, "Resource": "*"}]
    statements += [
        {
            "Sid": "AmsIamAuditFix" + "".join(p.capitalize() for p in kind.split(":")),
            "Effect": "Allow",
            "Action": actions,
            "Resource": list(scopes[kind]),
            **(
                {"Condition": {"StringEquals": {"aws:ResourceAccount": account_id or "${aws:PrincipalAccount}"}}}
                if kind == "s3:bucket"
                else {}
            ),
        }
        for kind, actions in sorted(writes.items())
    ]
    services = sorted({s for spec in aimodelshare.shared_roles() for s in spec.trusted_services})
    statements.append(
        {
            "Sid": "AmsIamAuditPassSharedRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": list(_shared_roles(account)),
            "Condition": {"StringEquals": {"iam:PassedToService": services}},
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}
