"""Effective permissions of one principal: what all its policies together allow, Denies and a
permissions boundary taken into account, from the inventory alone.

A user holds its inline and attached policies and those of its groups; a role holds its inline and
attached policies. Any unconditional Deny in any of them removes what it certainly covers (the same
rule as the same-document Deny in ``policy.grants``: a Deny with a condition might not apply, so it
removes nothing). A permissions boundary intersects: an action is allowed only if the boundary allows
it too (a conditional boundary Allow counts as allowing, a conditional boundary Deny removes nothing:
uncertainty always leaves the action allowed, so an uncertain path is reported rather than passed).

:class:`Permissions` is built once per distinct set of documents (principals with the same policies
share one), and answers "may it do ``action`` on ``resource``?" with the statement that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from ..policy.actions import service_actions, universe
from ..policy.document import PolicyDocument, Statement
from ..policy.grants import Grant, allow_grants, arn_covers, statement_actions

__all__ = ["Permissions", "Proof", "SourcedDocument"]


@dataclass(frozen=True)
class SourcedDocument:
    """A parsed policy and where it comes from (``policy/x``, ``role/y/inline/z``, ``group/g/inline/p``)."""

    label: str
    document: PolicyDocument


@dataclass(frozen=True)
class Proof:
    """The statement that allows an action on a resource: evidence an auditor can check."""

    policy: str
    statement_index: int
    action: str
    resource: str
    conditional: bool  # the statement has a condition (it counted: none certainly narrowed it)

    def describe(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "statement_index": self.statement_index,
            "action": self.action,
            "resource": self.resource,
            **({"conditional": True} if self.conditional else {}),
        }


#: The actions by which IAM-wide access becomes any access: all denied, IAM-wide access is not administrator.
_ADMIN_PROBES = (
    "iam:attachuserpolicy",
    "iam:attachrolepolicy",
    "iam:putuserpolicy",
    "iam:putrolepolicy",
    "iam:createpolicyversion",
)

#: Decides whether an Allow statement serves the question asked (``False``: a condition of it
#: certainly narrows the action away from what is needed, e.g. iam:PassedToService to another service).
StatementFilter = Callable[[Statement], bool]


def _matches(statement: Statement, resource: str) -> bool:
    """The statement applies to ``resource`` (which may itself be a pattern: then "may apply")."""
    if statement.not_resources is not None:
        return not any(arn_covers(p, resource) for p in statement.not_resources)
    return any(arn_covers(p, resource) or arn_covers(resource, p) for p in statement.resources or ())


def _covers_all(statement: Statement, resource: str) -> bool:
    """An Allow applies to every ARN ``resource`` may stand for (a ``NotResource`` one: unless it
    excludes all of them)."""
    if statement.not_resources is not None:
        return not any(arn_covers(p, resource) for p in statement.not_resources)
    return any(arn_covers(p, resource) for p in statement.resources or ())


def _certainly_covers(statement: Statement, resource: str) -> bool:
    """A Deny's resources certainly include ``resource`` (every ARN ``resource`` may stand for)."""
    if statement.not_resources is not None:
        return False
    return any(arn_covers(p, resource) for p in statement.resources or ())


@dataclass(frozen=True)
class _Allow:
    label: str
    grant: Grant


@dataclass(frozen=True)
class _Deny:
    label: str
    statement: Statement
    actions: frozenset[str]


@dataclass(frozen=True)
class Permissions:
    """What a set of documents allows, with an optional boundary (itself a :class:`Permissions`)."""

    documents: tuple[SourcedDocument, ...]
    boundary: Permissions | None = None
    _allows: tuple[_Allow, ...] = field(init=False, repr=False, compare=False)
    _denies: tuple[_Deny, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allows = [_Allow(d.label, g) for d in self.documents for g in allow_grants(d.document) if g.actions]
        denies = [
            _Deny(d.label, s, statement_actions(s))
            for d in self.documents
            for s in d.document.statements
            if s.effect == "Deny" and not s.conditions
        ]
        object.__setattr__(self, "_allows", tuple(allows))
        object.__setattr__(self, "_denies", tuple(denies))

    def named(self, among: frozenset[str]) -> frozenset[str]:
        """Those of ``among`` that some Allow names (before Denies on particular resources). Asked
        with the few actions that matter rather than kept whole: a union of every expansion
        (``logs:*``, ``ec2:Describe*``...) per set of documents was most of the analysis's memory."""
        return frozenset().union(*(a.grant.actions & among for a in self._allows))

    def denied(self, action: str, resource: str) -> str | None:
        """The label of a policy whose unconditional Deny certainly covers ``action`` on ``resource``."""
        for deny in self._denies:
            if action in deny.actions and _certainly_covers(deny.statement, resource):
                return deny.label
        return None

    def allows(
        self, action: str, resource: str, serves: StatementFilter | None = None, *, every: bool = False
    ) -> Proof | None:
        """The first statement that allows ``action`` (lowercase) on ``resource`` (an ARN, or a
        pattern such as ``*`` for "some resource"), and that ``serves`` accepts; ``None`` when none
        does, or a Deny or the boundary takes it away. With ``every``, the statement must apply to
        every ARN the pattern ``resource`` stands for (``role/*``: every role), not just to some."""
        action = action.lower()
        applies = _covers_all if every else _matches
        for allow in self._allows:
            statement = allow.grant.statement
            if action not in allow.grant.actions or not applies(statement, resource):
                continue
            if serves is not None and not serves(statement):
                continue
            if self.denied(action, resource) is not None:
                return None
            if self.boundary is not None and self.boundary.allows(action, resource) is None:
                return None
            return Proof(
                policy=allow.label,
                statement_index=statement.index,
                action=action,
                resource=resource,
                conditional=bool(statement.conditions),
            )
        return None

    def unbounded(self) -> Permissions:
        """The same documents without the boundary (what removing the boundary would give)."""
        return self if self.boundary is None else Permissions(self.documents)

    @cached_property
    def administrator(self) -> Proof | None:
        """The statement that makes the holder an administrator: every action, or every IAM action, on
        every resource (the holder can grant itself anything), unless Denies take away every way to
        use it or the boundary is not administrator too."""
        for allow in self._allows:
            grant = allow.grant
            # what the statement allows before any Deny: a Deny, in this document or another, counts
            # only if it takes away every way to use IAM-wide access (below)
            whole = grant.actions | grant.denied
            if not (grant.on_every_resource and (universe() <= whole or service_actions("iam") <= whole)):
                continue
            if all(self.denied(a, "*") is not None for a in _ADMIN_PROBES):
                continue
            if self.boundary is not None and self.boundary.administrator is None:
                continue
            return Proof(allow.label, grant.statement.index, "iam:*", "*", bool(grant.statement.conditions))
        return None


def permissions(documents: Iterable[SourcedDocument], boundary: Iterable[SourcedDocument] | None) -> Permissions:
    return Permissions(tuple(documents), Permissions(tuple(boundary)) if boundary is not None else None)
