"""What a policy grants: concrete actions per Allow statement, after the same document's Denies.

This module answers questions and never decides outcomes; the rules in ``rules/`` do that.

Deny handling is deliberately one-sided. A Deny removes an action from an Allow only when it
certainly applies to everything that Allow covers: it has no Condition, its resources cover the
Allow's resources, and (in resource policies) its principal covers the Allow's principal. Anything
less certain leaves the action granted, so an uncertain case is reported rather than passed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .actions import action_info, display_name, expand, service_actions, universe
from .document import PolicyDocument, Statement

__all__ = [
    "Grant",
    "allow_grants",
    "arn_covers",
    "principal_accounts",
    "s3_bucket_segment",
    "statement_actions",
]


@dataclass(frozen=True)
class Grant:
    """An Allow statement and the concrete (lowercase) actions it grants, Denies removed."""

    statement: Statement
    actions: frozenset[str]
    denied: frozenset[str]

    @property
    def index(self) -> int:
        return self.statement.index

    @property
    def resources(self) -> tuple[str, ...]:
        return self.statement.resources or ()

    @property
    def resource_is_negated(self) -> bool:
        """``NotResource`` in an Allow grants every resource but the listed ones."""
        return self.statement.not_resources is not None

    @property
    def on_every_resource(self) -> bool:
        """``Resource: "*"``, or ``NotResource`` (every resource but a few)."""
        return self.resource_is_negated or "*" in self.resources

    @property
    def covers_everything(self) -> bool:
        """Every action AWS documents (``*``, or a ``NotAction`` that leaves them all)."""
        return universe() <= self.actions

    def covers_service(self, service: str) -> bool:
        """Every action of ``service`` (``svc:*`` or its equivalent)."""
        actions = service_actions(service)
        return bool(actions) and actions <= self.actions

    def services(self) -> frozenset[str]:
        return frozenset(a.split(":", 1)[0] for a in self.actions)

    def of_service(self, service: str) -> frozenset[str]:
        prefix = service.lower() + ":"
        return frozenset(a for a in self.actions if a.startswith(prefix))

    def describe(self, actions: Iterable[str] | None = None, limit: int = 40) -> dict[str, Any]:
        """Evidence for this statement: where it is, what it says, and (some of) the actions it
        grants, in AWS's spelling. ``limit`` keeps ``s3:*`` from listing 168 names."""
        chosen = sorted(self.actions if actions is None else actions)
        return {
            "statement_index": self.index,
            "sid": self.statement.sid,
            "statement": dict(self.statement.raw),
            "actions": [display_name(a) for a in chosen[:limit]],
            "action_count": len(chosen),
            "removed_by_deny": len(self.denied),
        }

    def constrainable(self, actions: Iterable[str]) -> frozenset[str]:
        """Those of ``actions`` that can be limited to a resource ARN (unknown actions count as
        constrainable: assume the worst of what the catalogue cannot vouch for)."""
        out = set()
        for action in actions:
            info = action_info(action)
            if info is None or not info.wildcard_only:
                out.add(action)
        return frozenset(out)


def statement_actions(statement: Statement) -> frozenset[str]:
    """Concrete actions a statement names: ``Action`` expanded, or every action but ``NotAction``."""
    if statement.actions is not None:
        return _expand_all(statement.actions)
    assert statement.not_actions is not None
    return universe() - _expand_all(statement.not_actions)


@lru_cache(maxsize=65536)
def _expand_all(patterns: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for pattern in patterns:
        out |= expand(pattern)
    return frozenset(out)


@lru_cache(maxsize=65536)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # IAM resource globs: "*" matches any run of characters (including "/" and ":"), "?" one character.
    # A "?" stands for one character of the target, or for the target's own "?" (one character too),
    # never for a "*" of the target: "a?" covers "a?" and "ab", not "a*".
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append("[^*]")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def arn_covers(pattern: str, target: str) -> bool:
    """True when every ARN that ``target`` can stand for is matched by ``pattern``. ``target`` may
    itself hold wildcards (it is usually another statement's Resource)."""
    return _pattern_regex(pattern).fullmatch(target) is not None


def s3_bucket_segment(resource: str) -> str | None:
    """The bucket part of an S3 ARN (``arn:aws:s3:::name/key`` gives ``name``); ``None`` if the
    resource is not an S3 bucket or object ARN. ``*`` alone is not an S3 ARN (it is everything)."""
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not arn_covers(parts[2].lower(), "s3"):
        return None  # the service field may itself be a glob: "*", "s?", "s*" all name S3
    return parts[5].split("/", 1)[0]


def principal_accounts(values: Iterable[str]) -> set[str]:
    """Account ids named by AWS principal values: bare ids and any ARN's account field."""
    out = set()
    for value in values:
        if re.fullmatch(r"\d{12}", value):
            out.add(value)
        else:
            parts = value.split(":")
            if len(parts) >= 5 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]):
                out.add(parts[4])
    return out


#: Whom a Deny applies to when that is every principal (an identity policy's Deny, ``Principal: "*"``).
_ANYONE = ("*",)


def _deny_principal(deny: Statement) -> object:
    """Whom a Deny certainly applies to: :data:`_ANYONE`, one exact ``Principal`` value (it then covers
    an Allow with that same ``Principal``, and no other), or ``None``: nobody certainly (``NotPrincipal``
    denies everyone but some, and which Allow principals those are is not worked out here)."""
    if deny.not_principal is not None:
        return None
    if deny.principal is None:
        return _ANYONE  # identity policy: the principal is the policy's holder in both statements
    if "*" in dict(deny.principal).get("AWS", ()):
        return _ANYONE
    return deny.principal


def _covers_principal(whom: object, allow: Statement) -> bool:
    """An Allow with ``NotPrincipal`` has no ``principal`` (the parser refuses both), so only a Deny to
    everyone covers it."""
    return whom is _ANYONE or whom == allow.principal


def _covers_resources(patterns: tuple[str, ...], targets: tuple[str, ...]) -> bool:
    """Every one of the Allow's resources is matched by one of the Deny's resource globs."""
    return all(any(arn_covers(p, t) for p in patterns) for t in targets)


def _literal_prefix(pattern: str) -> str:
    """The characters every ARN a resource glob matches starts with."""
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    return pattern[:cut]


@dataclass(frozen=True)
class _Deny:
    resources: tuple[str, ...]
    whom: object
    actions: frozenset[str]


class _DenyIndex:
    """The document's unconditional Denies, indexed so that judging n Allows against m Denies does not
    compare every pair.

    A Deny removes an action from an Allow only when it certainly applies to everything the Allow
    covers: its principal covers the Allow's (see :func:`_deny_principal`) and its resources cover every
    resource of the Allow. A Deny on ``*`` covers every resource (``NotResource`` Allows too) and is
    filed by principal. Any other Deny can cover an Allow only if one of its globs matches the Allow's
    first resource: it is filed under each glob's literal prefix and found among that resource's
    prefixes, then judged in full. A Deny with ``NotResource`` or ``NotPrincipal`` covers nothing
    certainly, and an Allow with ``NotResource`` is covered only by a Deny on ``*``."""

    def __init__(self, denies: Iterable[Statement]) -> None:
        self.everywhere: dict[object, set[str]] = {}  # Deny on "*": whom -> actions
        self.by_prefix: dict[str, list[_Deny]] = {}
        for deny in denies:
            whom = _deny_principal(deny)
            if whom is None or not deny.resources:
                continue  # NotPrincipal, NotResource (resources is None then) or no resource at all
            actions = statement_actions(deny)
            if "*" in deny.resources:
                self.everywhere.setdefault(whom, set()).update(actions)
                continue
            entry = _Deny(deny.resources, whom, actions)
            for prefix in {_literal_prefix(p) for p in deny.resources}:
                self.by_prefix.setdefault(prefix, []).append(entry)

    def denied(self, allow: Statement, actions: frozenset[str]) -> frozenset[str]:
        """Which of ``actions`` (those ``allow`` grants) the Denies certainly remove."""
        # Denies on "*": those to everyone, and those to exactly the Allow's principal (never None).
        out = actions & (self.everywhere.get(_ANYONE, set()) | self.everywhere.get(allow.principal, set()))
        if not allow.resources:
            return out  # NotResource, or no resource: only a Deny on "*" covers it
        first = allow.resources[0]
        seen: set[int] = set()
        for end in range(len(first) + 1):
            for deny in self.by_prefix.get(first[:end], ()):
                if id(deny) not in seen and _covers_principal(deny.whom, allow):
                    seen.add(id(deny))
                    if _covers_resources(deny.resources, allow.resources):
                        out |= actions & deny.actions
        return out


@lru_cache(maxsize=16384)
def _grants(document: PolicyDocument) -> tuple[Grant, ...]:
    index = _DenyIndex(s for s in document.statements if s.effect == "Deny" and not s.conditions)
    grants = []
    for statement in document.statements:
        if not statement.is_allow:
            continue
        actions = statement_actions(statement)
        denied = index.denied(statement, actions)
        grants.append(Grant(statement=statement, actions=actions - denied, denied=denied))
    return tuple(grants)


def allow_grants(document: PolicyDocument) -> tuple[Grant, ...]:
    """One :class:`Grant` per Allow statement, in document order.

    Cached per document: identical documents (legacy accounts hold hundreds of byte-identical
    per-deployment policies) are analysed once. Documents compare by value, so equal parses hit.
    """
    return _grants(document)
