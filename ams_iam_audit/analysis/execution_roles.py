"""Which role is the AIModelShare execution role, when nobody said so.

The refactored library assumes the role named by ``AIMODELSHARE_EXECUTION_ROLE_ARN``; an auditor
may not know it, and an audit that silently skips the execution-role rules reads as "passed". So the
inventory is searched for *candidates*: roles that principals (users, roles, accounts; not only AWS
services) may assume and that carry one of these marks, each recorded as a reason:

* **named** as the library's guide names it (``aimodelshare-execution-role``);
* **tagged** ``aimodelshare:execution-role`` (what ``--fix`` puts on the role it creates);
* **permissions**: its identity policies grant the library's execution permissions, the
  permissions of the policy the execution role takes over from the ephemeral users (the refactored
  library's ``bucketpolicy_custom_s3_policy``): every action that policy names, and some action of
  each service it grants by wildcard (``lambda:*``, ``apigateway:*``). A role that can do everything
  shows no such mark: administrator access says nothing about a role's purpose.

Service-linked roles, the four shared roles and legacy per-deployment roles are never candidates.

The choice (:func:`choose`): the only candidate; several (a name or tag does not outrank a role
holding the library's permissions: a decoy could), or none, leave the execution role **not
assessed**, which the rules report as an error naming ``--aws-execution-role-arn``. Computed from
the inventory alone.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import aimodelshare
from ..inventory.model import Inventory, Role
from ..policy.actions import expand
from ..policy.document import PolicyParseError, Statement, parse_policy
from ..policy.grants import allow_grants

__all__ = ["Candidate", "Discovery", "choose", "discover", "execution_permissions", "trusted_principals"]

_ASSUME = "sts:assumerole"


@dataclass(frozen=True)
class Candidate:
    """A role that may be the execution role, and why (each reason in words an auditor can check)."""

    arn: str
    name: str
    reasons: tuple[str, ...]
    marked: bool  # named or tagged as the execution role (a stronger mark than permissions alone)
    trusted: tuple[str, ...]  # the AWS principals its trust policy lets assume it

    def describe(self) -> dict[str, Any]:
        return {"arn": self.arn, "reasons": list(self.reasons), "trusted_principals": list(self.trusted)}


@dataclass(frozen=True)
class Discovery:
    """The candidates found and the one chosen (``None``: not assessed), with why."""

    candidates: tuple[Candidate, ...]
    chosen: Candidate | None
    why: str


@cache
def execution_permissions() -> tuple[frozenset[str], frozenset[str]]:
    """What marks the library's execution permissions, from the refactored template (never written by
    hand): (the lowercase actions the template names one by one, the services it grants by wildcard)."""
    named: set[str] = set()
    services: set[str] = set()
    template = parse_policy(aimodelshare.library_template("refactored", aimodelshare.EXECUTION_TEMPLATE))
    for statement in template.statements:
        for action in statement.actions or ():
            if "*" in action or "?" in action:
                services.add(action.split(":", 1)[0])
            else:
                named |= expand(action)
    return frozenset(named), frozenset(services)


def _assumes(statement: Statement) -> bool:
    if statement.actions is not None:
        return any(fnmatch.fnmatchcase(_ASSUME, a) for a in statement.actions)
    return not any(fnmatch.fnmatchcase(_ASSUME, a) for a in statement.not_actions or ())


def trusted_principals(trust: Mapping[str, Any]) -> tuple[str, ...]:
    """The AWS principals (users, roles, accounts, ``*``) an Allow of ``sts:AssumeRole`` in ``trust``
    names; an unparseable trust policy trusts nobody known (AMS-EXEC-001 reports it)."""
    try:
        statements = parse_policy(trust).statements
    except PolicyParseError:
        return ()
    out: list[str] = []
    for statement in statements:
        if statement.is_allow and _assumes(statement):
            if statement.not_principal is not None:
                out.append("* (NotPrincipal)")
            out += dict(statement.principal or ()).get("AWS", ())
    return tuple(dict.fromkeys(out))


def _documents(role: Role, inventory: Inventory) -> Iterable[Mapping[str, Any]]:
    yield from (p.document for p in role.inline_policies)
    for attached in role.attached_policies:
        policy = inventory.policy_by_arn.get(attached.arn)
        if policy is not None and policy.default_document is not None:
            yield policy.default_document


def _permission_reason(role: Role, inventory: Inventory) -> str | None:
    named, services = execution_permissions()
    granted: set[str] = set()
    for document in _documents(role, inventory):
        try:
            grants = allow_grants(parse_policy(document))
        except PolicyParseError:
            continue
        for grant in grants:
            if grant.covers_everything:
                return None  # administrator: no sign of a purpose
            granted |= grant.actions
    if named <= granted and all(any(a.startswith(f"{s}:") for a in granted) for s in services):
        return (
            f"grants the library's execution permissions (every action of the refactored "
            f"{aimodelshare.EXECUTION_TEMPLATE} template, and {', '.join(sorted(services))} actions)"
        )
    return None


def _candidate(role: Role, inventory: Inventory) -> Candidate | None:
    if role.path.startswith("/aws-service-role/") or role.name in aimodelshare.shared_role_names():
        return None
    if aimodelshare.classify_role(role.name, role.policy_names) is not None:
        return None
    trusted = trusted_principals(role.trust_policy)
    if not trusted:
        return None  # only services (or nobody) may assume it: no library session runs as it
    marks = []
    if role.name == aimodelshare.EXECUTION_ROLE_NAME:
        marks.append(f"named {aimodelshare.EXECUTION_ROLE_NAME}, as the library's refactoring guide names it")
    tag = dict(role.tags).get(aimodelshare.EXECUTION_ROLE_TAG)
    if tag is not None:
        marks.append(f"tagged {aimodelshare.EXECUTION_ROLE_TAG}={tag}")
    permission = _permission_reason(role, inventory)
    if not marks and permission is None:
        return None
    reasons = (*marks, *((permission,) if permission else ()), f"may be assumed by {', '.join(trusted)}")
    return Candidate(arn=role.arn, name=role.name, reasons=reasons, marked=bool(marks), trusted=trusted)


def choose(candidates: tuple[Candidate, ...]) -> Discovery:
    """The only candidate; otherwise none (not assessed). A name or a tag does not outrank a role
    that holds the library's permissions: anyone who may create or tag a role could otherwise put a
    clean decoy in front of the role the library really uses, and the rules would judge the decoy."""
    if len(candidates) == 1:
        only = candidates[0]
        return Discovery(candidates, only, "the only candidate" + (" (named or tagged as such)" if only.marked else ""))
    if not candidates:
        return Discovery(candidates, None, "no role is named, tagged or permissioned as the execution role")
    names = ", ".join(c.name for c in candidates)
    return Discovery(candidates, None, f"{len(candidates)} candidates ({names}): which one the library uses is unknown")


def discover(inventory: Inventory) -> Discovery:
    """Search the inventory's roles (which must have been read, with the policies attached to them)."""
    found = (_candidate(r, inventory) for r in sorted(inventory.roles, key=lambda r: r.name))
    return choose(tuple(c for c in found if c is not None))
