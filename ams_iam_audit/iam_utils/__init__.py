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

The code is in one module per resource: ``roles`` (and how recently a role was used), ``policies``
(managed and inline), ``users``, ``buckets``, and ``lock`` (the account's fix lock), with what they
share in ``_common``. This package's namespace is the library-compatible import path:
``from ams_iam_audit.iam_utils import ensure_role`` and ``iam_utils.ensure_role`` keep working for
every name of ``__all__``.
"""

from __future__ import annotations

from ..aws import get_execution_session
from ..policy.document import canonical_policy_doc, policy_hash
from ._common import PERMISSIONS, BucketOwnedElsewhereError, RetirementRefusedError, json_text
from .buckets import ensure_bucket, ensure_bucket_policy
from .lock import (
    LOCK_POLICY_NAME,
    FixLock,
    FixLockHeldError,
    acquire_fix_lock,
    lock_arn,
    read_fix_lock,
    release_fix_lock,
)
from .policies import (
    INLINE_KEY,
    MAX_POLICY_VERSIONS,
    PolicyState,
    PolicyVersionState,
    caller_account,
    delete_managed_policy,
    ensure_inline_policy,
    ensure_managed_policy,
    policy_calls,
    policy_deletion_calls,
    read_policy,
)
from .roles import (
    RoleState,
    ServiceAccess,
    attach_calls,
    attach_managed_policy_to_role,
    delete_role,
    empty_role,
    ensure_role,
    read_role,
    retain_only_role_policies,
    retire_role,
    role_calls,
    role_deletion_calls,
    role_emptying_calls,
    role_retirement_calls,
    services_last_accessed,
    trim_calls,
)
from .users import UserState, key_deactivation_calls, read_user, retire_user, user_retirement_calls

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


PERMISSIONS["get_execution_session"] = ("sts:AssumeRole",)
