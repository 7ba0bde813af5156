"""ams-iam-audit: audit an AWS account's IAM against the AIModelShare least-privilege refactoring.

The public API is what ``__all__`` lists: what rule modules (ours in ``rules/`` and a team's own)
use to declare rules, read the inventory and ask what policies grant. Everything else is private.
"""

from . import aimodelshare
from .analysis import EscalationAnalysis, Verdict, analyse
from .findings import Evidence, Finding, Outcome
from .inventory.model import (
    AccessKey,
    AttachedPolicy,
    Bucket,
    Consumer,
    EnvironmentVariable,
    Group,
    InlinePolicy,
    Inventory,
    ManagedPolicy,
    PolicyVersion,
    Role,
    Section,
    Trail,
    User,
)
from .policy import (
    FIXED_SOURCE_KEYS,
    PERMISSIONS_MANAGEMENT,
    ConditionEntry,
    Grant,
    Narrowing,
    PolicyDocument,
    PolicyParseError,
    action_info,
    allow_grants,
    arn_covers,
    canonical_policy_doc,
    display_name,
    narrowing,
    parse_policy,
    policy_hash,
    principal_accounts,
    s3_bucket_segment,
    service_actions,
)
from .policy.lint import LintIssue, lint
from .policy.rewrite import S3Rewrite, least_privilege_s3
from .rule import Controls, Rule, Severity, rule
from .scopes import AuditContext, ExecutionRoleRef, PolicyRef, SharedRoleState

__all__ = [
    "FIXED_SOURCE_KEYS",
    "PERMISSIONS_MANAGEMENT",
    "AccessKey",
    "AttachedPolicy",
    "AuditContext",
    "Bucket",
    "ConditionEntry",
    "Consumer",
    "Controls",
    "EnvironmentVariable",
    "EscalationAnalysis",
    "Evidence",
    "ExecutionRoleRef",
    "Finding",
    "Grant",
    "Group",
    "InlinePolicy",
    "Inventory",
    "LintIssue",
    "ManagedPolicy",
    "Narrowing",
    "Outcome",
    "PolicyDocument",
    "PolicyParseError",
    "PolicyRef",
    "PolicyVersion",
    "Role",
    "Rule",
    "S3Rewrite",
    "Section",
    "Severity",
    "SharedRoleState",
    "Trail",
    "User",
    "Verdict",
    "action_info",
    "aimodelshare",
    "allow_grants",
    "analyse",
    "arn_covers",
    "canonical_policy_doc",
    "display_name",
    "least_privilege_s3",
    "lint",
    "narrowing",
    "parse_policy",
    "policy_hash",
    "principal_accounts",
    "rule",
    "s3_bucket_segment",
    "service_actions",
]
