"""Scopes: what a rule is parametrized over, read from the inventory.

Each scope is a fixture name (``user``, ``role``, ``principal``, ``managed_policy``, ``identity_policy``,
``policy_document``, ``shared_role``, ``execution_role``) and a function from the audit context to
its subjects, each with a readable, stable id (``role/codebuild_role``). Where the inventory could not
read what a scope needs, the scope yields an :class:`Unreadable` in its place, and the rule reports an
error for it: an unread part of the account is never reported as compliant. A scope with nothing in
it yields :class:`NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from . import aimodelshare
from .aimodelshare import SharedRole
from .inventory.model import RETIRING_TAG, Inventory, Role, Section
from .policy.document import PolicyDocument, parse_policy

__all__ = [
    "SCOPES",
    "AuditContext",
    "ExecutionRoleRef",
    "NotApplicable",
    "PolicyRef",
    "ScopeDef",
    "SharedRoleState",
    "Subject",
    "Unreadable",
    "subjects_for",
]


@dataclass(frozen=True)
class PolicyRef:
    """A policy document in its context. ``kind`` is ``managed`` (customer managed, default
    version), ``inline`` (in a user, group or role) or ``bucket`` (a bucket policy)."""

    kind: str
    name: str
    arn: str  # managed: the policy's ARN; inline: its holder's ARN; bucket: the bucket's ARN
    holder: str | None  # "role/x", "user/y", "group/z" for inline policies
    document: Mapping[str, Any] = field(compare=False, repr=False)
    version_id: str | None = None
    aimodelshare: bool = False  # created by or for the AIModelShare library

    @property
    def label(self) -> str:
        if self.kind == "managed":
            return f"policy/{self.name}"
        if self.kind == "inline":
            return f"{self.holder}/inline/{self.name}"
        return f"bucket/{self.name}"

    @cached_property
    def parsed(self) -> PolicyDocument:
        """Raises ``PolicyParseError``, which the rule reports as an error naming this policy."""
        return parse_policy(self.document, where=self.label)


@dataclass(frozen=True)
class SharedRoleState:
    """A shared role's desired state and what the account holds under its name (``None``: absent)."""

    spec: SharedRole
    role: Role | None


@dataclass(frozen=True)
class ExecutionRoleRef:
    arn: str
    role: Role | None  # None: no such role in the audited account


@dataclass(frozen=True)
class Subject:
    id: str
    arn: str
    value: Any


@dataclass(frozen=True)
class Unreadable:
    """Stands where a scope's subjects could not be read."""

    id: str
    sections: tuple[Section, ...]

    def message(self) -> str:
        return "; ".join(s.describe() for s in self.sections)


@dataclass(frozen=True)
class NotApplicable:
    reason: str
    id: str = "not-applicable"


Item = Subject | Unreadable | NotApplicable


@dataclass(frozen=True)
class AuditContext:
    """What rules see besides the subject: the inventory and the run's settings."""

    inventory: Inventory

    @property
    def execution_role_arns(self) -> tuple[str, ...]:
        """The AIModelShare execution role(s) this run judges (recorded in the inventory)."""
        return self.inventory.execution_role_arns

    @cached_property
    def aimodelshare_principals(self) -> frozenset[str]:
        """ARNs of the users and roles that belong to AIModelShare."""
        inv = self.inventory
        out = {
            u.arn
            for u in inv.users
            if aimodelshare.is_ephemeral_user(u.name)
            or any(aimodelshare.is_ephemeral_policy(p.name) for p in u.attached_policies)
        }
        for role in inv.roles:
            if (
                role.name in aimodelshare.shared_role_names()
                or role.arn in self.execution_role_arns
                or self.legacy_role(role) is not None
            ):
                out.add(role.arn)
        return frozenset(out)

    def legacy_role(self, role: Role) -> aimodelshare.LegacyMatch | None:
        """Why ``role`` is a legacy per-deployment role, or ``None``. A role an interrupted ``--fix``
        had begun to retire carries ``RETIRING_TAG``: it stays legacy even once the policies that
        identified it are detached."""
        pattern = dict(role.tags).get(RETIRING_TAG)
        if pattern is not None:
            return aimodelshare.role_pattern(pattern) or aimodelshare.LegacyMatch(
                pattern=pattern, created_by="unknown", replaced_by=None
            )
        return aimodelshare.classify_role(role.name, role.policy_names)

    @cached_property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.inventory.roles)

    def policy_is_aimodelshare(self, name: str, arn: str) -> bool:
        if (
            name in aimodelshare.shared_policy_names()
            or aimodelshare.is_ephemeral_policy(name)
            or aimodelshare.classify_policy(name, self.role_names) is not None
        ):
            return True
        return any(p in self.aimodelshare_principals for p in self.inventory.attachments.get(arn, ()))

    @cached_property
    def uses_aimodelshare(self) -> bool:
        """Whether the account shows any sign of the library (then its shared roles are expected)."""
        inv = self.inventory
        return (
            bool(self.aimodelshare_principals)
            or any(aimodelshare.is_aimodelshare_bucket(b.name) for b in inv.buckets)
            or any(self.policy_is_aimodelshare(p.name, p.arn) for p in inv.policies if not p.aws_managed)
        )


@dataclass(frozen=True)
class ScopeDef:
    name: str
    description: str
    provide: Callable[[AuditContext], list[Item]]


def _needs(ctx: AuditContext, *sections: str) -> Unreadable | None:
    missing = []
    for name in sections:
        section = ctx.inventory.section(name)
        missing.append(section or Section(name=name, readable=False, error="not collected"))
    bad = tuple(s for s in missing if not s.readable)
    return Unreadable(id="unreadable-" + "-".join(s.name for s in bad), sections=bad) if bad else None


def _users(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    return [Subject(id=f"user/{u.name}", arn=u.arn, value=u) for u in ctx.inventory.users]


def _roles(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    return [Subject(id=f"role/{r.name}", arn=r.arn, value=r) for r in ctx.inventory.roles]


def _principals(ctx: AuditContext) -> list[Item]:
    """Users and roles, but not service-linked roles (AWS defines and alone can change what they do)."""
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    users: list[Item] = [Subject(id=f"user/{u.name}", arn=u.arn, value=u) for u in ctx.inventory.users]
    roles: list[Item] = [
        Subject(id=f"role/{r.name}", arn=r.arn, value=r)
        for r in ctx.inventory.roles
        if not r.path.startswith("/aws-service-role/")
    ]
    return users + roles


def _managed(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    return [Subject(id=f"policy/{p.name}", arn=p.arn, value=p) for p in ctx.inventory.policies if not p.aws_managed]


def _identity_refs(ctx: AuditContext) -> Iterable[PolicyRef]:
    inv = ctx.inventory
    for policy in inv.policies:
        document = policy.default_document
        if policy.aws_managed or document is None:
            continue
        yield PolicyRef(
            kind="managed",
            name=policy.name,
            arn=policy.arn,
            holder=None,
            document=document,
            version_id=policy.default_version_id,
            aimodelshare=ctx.policy_is_aimodelshare(policy.name, policy.arn),
        )
    for kind, principals in (("user", inv.users), ("group", inv.groups), ("role", inv.roles)):
        for principal in principals:
            for inline in principal.inline_policies:
                yield PolicyRef(
                    kind="inline",
                    name=inline.name,
                    arn=principal.arn,
                    holder=f"{kind}/{principal.name}",
                    document=inline.document,
                    aimodelshare=principal.arn in ctx.aimodelshare_principals,
                )


def _identity_policies(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    return [Subject(id=ref.label, arn=ref.arn, value=ref) for ref in _identity_refs(ctx)]


def _policy_documents(ctx: AuditContext) -> list[Item]:
    items = _identity_policies(ctx)
    if (gap := _needs(ctx, "s3")) is not None:
        return [*items, gap]
    for bucket in ctx.inventory.buckets:
        arn = f"arn:{ctx.inventory.partition}:s3:::{bucket.name}"
        if bucket.policy_error is not None:
            items.append(
                Unreadable(
                    id=f"bucket/{bucket.name}",
                    sections=(
                        Section(
                            name=f"s3:{bucket.name}",
                            readable=False,
                            error=bucket.policy_error,
                            permission="s3:GetBucketPolicy",
                        ),
                    ),
                )
            )
        elif bucket.policy is not None:
            ref = PolicyRef(
                kind="bucket",
                name=bucket.name,
                arn=arn,
                holder=None,
                document=bucket.policy,
                aimodelshare=aimodelshare.is_aimodelshare_bucket(bucket.name),
            )
            items.append(Subject(id=ref.label, arn=arn, value=ref))
    return items


def _shared_roles(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    if not ctx.uses_aimodelshare:
        return [NotApplicable("the account holds no AIModelShare resources")]
    inv = ctx.inventory
    return [
        Subject(
            id=f"role/{spec.role_name}",
            arn=f"arn:{inv.partition}:iam::{inv.account_id}:role/{spec.role_name}",
            value=SharedRoleState(spec=spec, role=inv.role_by_name.get(spec.role_name)),
        )
        for spec in aimodelshare.shared_roles()
    ]


def _execution_roles(ctx: AuditContext) -> list[Item]:
    if not ctx.execution_role_arns:
        return [
            NotApplicable(f"no execution role given (--aws-execution-role-arn or {aimodelshare.EXECUTION_ROLE_ENV})")
        ]
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    return [
        Subject(
            id=f"role/{arn.rsplit('/', 1)[-1]}",
            arn=arn,
            value=ExecutionRoleRef(arn=arn, role=ctx.inventory.role_by_arn.get(arn)),
        )
        for arn in ctx.execution_role_arns
    ]


SCOPES: dict[str, ScopeDef] = {
    s.name: s
    for s in (
        ScopeDef("user", "every IAM user", _users),
        ScopeDef("role", "every IAM role", _roles),
        ScopeDef("principal", "every IAM user and role (service-linked roles aside)", _principals),
        ScopeDef("managed_policy", "every customer managed policy", _managed),
        ScopeDef(
            "identity_policy", "customer managed policies (default version) and inline policies", _identity_policies
        ),
        ScopeDef("policy_document", "identity policies and bucket policies", _policy_documents),
        ScopeDef("shared_role", "the four shared AIModelShare roles", _shared_roles),
        ScopeDef("execution_role", "the AIModelShare execution role", _execution_roles),
    )
}


def subjects_for(
    scope: str, ctx: AuditContext, select: Callable[[Any], bool] | None = None, select_description: str | None = None
) -> list[Item]:
    """The parametrization of one rule: its scope's items, narrowed by ``select``, never empty."""
    items = SCOPES[scope].provide(ctx)
    if select is not None:
        items = [i for i in items if not isinstance(i, Subject) or select(i.value)]
    if not any(isinstance(i, Subject | Unreadable) for i in items):
        reasons = [i.reason for i in items if isinstance(i, NotApplicable)]
        what = SCOPES[scope].description + (f" ({select_description})" if select_description else "")
        return [NotApplicable(reasons[0] if reasons else f"the account holds no {what}")]
    return [i for i in items if not isinstance(i, NotApplicable)]
