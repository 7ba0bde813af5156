"""Scopes: what a rule is parametrized over, read from the inventory.

Each scope is a fixture name (``user``, ``role``, ``principal``, ``managed_policy``, ``identity_policy``,
``policy_document``, ``shared_role``, ``execution_role``, ``workload``, ``cloudtrail``, ``bucket``, and
what a team adds with :func:`register_scope`) and a function from the audit context to its subjects,
each with a readable, stable id (``role/codebuild_role``, ``lambda/us-east-1/<function>``,
``account/<id>``). Where the inventory could not
read what a scope needs, the scope yields an :class:`Unreadable` in its place, and the rule reports an
error for it: an unread part of the account is never reported as compliant. A scope with nothing in
it yields :class:`NotApplicable`. A scope whose subject nobody named and the inventory cannot settle
(the execution role: none given, none or several candidates found) yields :class:`NotAssessed`, which
the rules report as an error naming the option to set.

IAM is read as four parts (``iam:users``, ``iam:groups``, ``iam:roles``, ``iam:policies``; a live run
reads them together as ``iam``, a GetAccountAuthorizationDetails file may lack some). Each scope names
the parts it depends on, including those that only decide *which* subjects it has or how they are
classified (a legacy policy is recognised by its partner role); a scope of documents yields what the
readable parts hold plus one :class:`Unreadable` for the parts that are missing. A customer managed
policy whose default document could not be read is an :class:`Unreadable` of its own
(``policy/<name>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from . import aimodelshare
from .aimodelshare import SharedRole
from .analysis import EscalationAnalysis, analyse
from .analysis.execution_roles import Discovery, discover
from .findings import EXAMINED
from .inventory.consumer_kinds import CONSUMER_KINDS
from .inventory.model import IAM_PARTS, RETIRING_TAG, Analyzer, Inventory, ManagedPolicy, Role, Section, Trail
from .policy.document import PolicyDocument, PolicyParseError, parse_policy

__all__ = [
    "BUILTIN_SCOPES",
    "EXAMINED",
    "NOT_ASSESSED",
    "SCOPES",
    "AuditContext",
    "Case",
    "Examined",
    "ExecutionRoleRef",
    "NotApplicable",
    "NotAssessed",
    "PolicyRef",
    "RegionAnalyzers",
    "ScopeDef",
    "SharedRoleState",
    "Subject",
    "Unreadable",
    "register_scope",
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

    def may_allow(self, services: str | Iterable[str]) -> bool:
        """Whether the document may allow an action of ``services`` (``PolicyDocument.may_allow``);
        ``True`` for a document that does not parse, so the rule's own case reports it."""
        try:
            return self.parsed.may_allow(services)
        except PolicyParseError:
            return True


@dataclass(frozen=True)
class SharedRoleState:
    """A shared role's desired state and what the account holds under its name (``None``: absent)."""

    spec: SharedRole
    role: Role | None


@dataclass(frozen=True)
class ExecutionRoleRef:
    """The execution role a run judges: ``given`` (``--aws-execution-role-arn`` or
    ``$AIMODELSHARE_EXECUTION_ROLE_ARN``) or ``discovered`` in the inventory, with the reasons."""

    arn: str
    role: Role | None  # None: no such role in the audited account
    source: str = "given"  # "given" or "discovered"
    reasons: tuple[str, ...] = ()  # why a discovered role was taken for the execution role

    def describe(self) -> dict[str, Any]:
        """Evidence: where the role came from (and, when discovered, why)."""
        out: dict[str, Any] = {"execution_role_source": self.source}
        if self.reasons:
            out["discovered_because"] = list(self.reasons)
        return out


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


#: The resource id of a :class:`NotAssessed` case.
NOT_ASSESSED = "not-assessed"


@dataclass(frozen=True)
class NotAssessed:
    """Stands where a control could not be assessed for want of a setting (never a pass, never a
    skip): the rule reports an error whose message names the option to set, with the evidence."""

    reason: str
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False)
    id: str = NOT_ASSESSED


Item = Subject | Unreadable | NotApplicable | NotAssessed


@dataclass(frozen=True)
class Examined:
    """Stands, in one passing case, for the subjects of a rule's scope that hold nothing the rule
    judges (its ``judges`` test said so at collection: a policy that cannot allow an S3 action, a
    user not named like the library's). The rule's body is not run for it: the case passes and
    says what was examined ("2,880 of 3,000 identity and bucket policies cannot allow an S3 action"),
    so a clean account still shows every rule passed and the counts stay true, while pytest's
    per-case cost is paid only where there is something to judge.

    ``resources`` are the ids it stands for, in its evidence: an auditor sees which subjects passed
    this way, and a baseline's failure among them is resolved (judged again: nothing to judge now)."""

    total: int  # the subjects of the scope (after the rule's ``select``)
    noun: str  # what they are ("identity and bucket policies")
    criterion: str  # what the others hold nothing of ("cannot allow an S3 action")
    resources: tuple[str, ...] = field(compare=False, repr=False)
    id: str = EXAMINED

    @property
    def judged(self) -> int:
        """The subjects judged in cases of their own."""
        return self.total - len(self.resources)

    def message(self) -> str:
        rest = len(self.resources)
        return f"{rest:,} of {self.total:,} {self.noun} {self.criterion}: nothing to judge"

    def evidence(self) -> dict[str, Any]:
        """One evidence item, ``examined`` (the only key the case reserves beside a rule's own)."""
        return {
            EXAMINED: {
                "subjects": self.total,
                "judged_in_own_cases": self.judged,
                "passed_without_own_case": len(self.resources),
                "because_they": self.criterion,
                "resources": sorted(self.resources),
            }
        }


#: What a rule is parametrized over: its scope's items, and one :class:`Examined` when the rule
#: judges only some of them.
Case = Item | Examined


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
    def escalation(self) -> EscalationAnalysis:
        """Who can become administrator (``analysis.escalation``), built once per run. The principal
        scope builds it while the rules are collected, so it lives with the inventory, out of the
        garbage collector's way, rather than being made by the first rule case that asks."""
        return analyse(self.inventory)

    @cached_property
    def execution_discovery(self) -> Discovery:
        """The execution role candidates in the inventory (``analysis.execution_roles``), found once a
        run (both AMS-EXEC rules and the fix plan ask)."""
        return discover(self.inventory)

    def forget_analyses(self) -> None:
        """Let the run's analyses (``escalation``, ``execution_discovery``) go once every case is
        judged: the plugin calls this before it writes the reports, whose peak they would otherwise
        share (about 27 MB at IAM's maximum quotas, bench/README.md round 4). Asked for again, each is
        made again."""
        for name in ("escalation", "execution_discovery"):
            self.__dict__.pop(name, None)

    def scope_items(self, scope: str) -> list[Item]:
        """What ``scope`` provides for this inventory, made once a run: every rule of the scope
        shares the same subjects, so a document is parsed (and its grants worked out) once for all
        the rules that judge it."""
        made = self._scope_items.get(scope)
        if made is None:
            made = self._scope_items[scope] = SCOPES[scope].provide(self)
        return made

    @cached_property
    def _scope_items(self) -> dict[str, list[Item]]:
        return {}

    @cached_property
    def role_names(self) -> frozenset[str]:
        """The account's role names, as a set: each managed policy's classification looks its
        partner role up in it (``aimodelshare.classify_policy``)."""
        return frozenset(r.name for r in self.inventory.roles)

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
    description: str  # "every IAM user": what a rule of this scope judges
    provide: Callable[[AuditContext], list[Item]]
    noun: str = ""  # "IAM users": what an :class:`Examined` case counts (default: ``name``)

    @property
    def counted(self) -> str:
        return self.noun or self.name


def _needs(ctx: AuditContext, *sections: str) -> Unreadable | None:
    """One :class:`Unreadable` for those of ``sections`` that could not be read (each named once:
    the parts of IAM read in one piece are one section), or ``None``."""
    bad: dict[str, Section] = {}
    for name in sections:
        section = ctx.inventory.section(name) or Section(name=name, readable=False, error="not collected")
        if not section.readable:
            bad.setdefault(section.name, section)
    return Unreadable(id="unreadable-" + "-".join(bad), sections=tuple(bad.values())) if bad else None


def _unreadable_policy(ctx: AuditContext, policy: ManagedPolicy) -> Unreadable:
    section = ctx.inventory.section(f"iam:policy/{policy.name}")
    if section is None or section.readable:
        section = Section(
            name=f"iam:policy/{policy.name}",
            readable=False,
            error=policy.document_error or f"default version {policy.default_version_id!r} was not collected",
            permission="iam:GetAccountAuthorizationDetails (or iam:GetPolicyVersion)",
        )
    return Unreadable(id=f"policy/{policy.name}", sections=(section,))


def _unlisted_policies(ctx: AuditContext) -> list[Unreadable]:
    """Customer managed policies attached to someone but missing from the data (the inventory
    records them as unreadable ``iam:policy/<name>`` sections): unknown documents, never skipped."""
    listed = {p.name for p in ctx.inventory.policies}
    prefix = "iam:policy/"
    return [
        Unreadable(id=f"policy/{s.name.removeprefix(prefix)}", sections=(s,))
        for s in ctx.inventory.sections
        if s.name.startswith(prefix) and not s.readable and s.name.removeprefix(prefix) not in listed
    ]


def _users(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam:users")) is not None:
        return [gap]
    return [Subject(id=f"user/{u.name}", arn=u.arn, value=u) for u in ctx.inventory.users]


def _roles(ctx: AuditContext) -> list[Item]:
    if (gap := _needs(ctx, "iam:roles")) is not None:
        return [gap]
    return [Subject(id=f"role/{r.name}", arn=r.arn, value=r) for r in ctx.inventory.roles]


def _principals(ctx: AuditContext) -> list[Item]:
    """Users and roles, but not service-linked roles (AWS defines and alone can change what they do)."""
    if (gap := _needs(ctx, "iam")) is not None:
        return [gap]
    ctx.escalation  # noqa: B018  (built now, with the cases: see AuditContext.escalation)
    users: list[Item] = [Subject(id=f"user/{u.name}", arn=u.arn, value=u) for u in ctx.inventory.users]
    roles: list[Item] = [
        Subject(id=f"role/{r.name}", arn=r.arn, value=r)
        for r in ctx.inventory.roles
        if not r.path.startswith("/aws-service-role/")
    ]
    return users + roles


def _managed(ctx: AuditContext) -> list[Item]:
    # every part: a legacy policy is recognised by its partner role, and its evidence lists whom it
    # is attached to
    if (gap := _needs(ctx, *IAM_PARTS)) is not None:
        return [gap]
    items: list[Item] = [
        Subject(id=f"policy/{p.name}", arn=p.arn, value=p)
        if p.default_document is not None
        else _unreadable_policy(ctx, p)
        for p in ctx.inventory.policies
        if not p.aws_managed
    ]
    return [*items, *_unlisted_policies(ctx)]


def _identity_items(ctx: AuditContext) -> Iterable[Subject | Unreadable]:
    inv = ctx.inventory
    if inv.readable("iam:policies"):
        for policy in inv.policies:
            if policy.aws_managed:
                continue
            document = policy.default_document
            if document is None:
                yield _unreadable_policy(ctx, policy)
                continue
            ref = PolicyRef(
                kind="managed",
                name=policy.name,
                arn=policy.arn,
                holder=None,
                document=document,
                version_id=policy.default_version_id,
                aimodelshare=ctx.policy_is_aimodelshare(policy.name, policy.arn),
            )
            yield Subject(id=ref.label, arn=ref.arn, value=ref)
        yield from _unlisted_policies(ctx)
    holders = (("user", "iam:users", inv.users), ("group", "iam:groups", inv.groups), ("role", "iam:roles", inv.roles))
    for kind, part, principals in holders:
        if not inv.readable(part):
            continue
        for principal in principals:
            for inline in principal.inline_policies:
                ref = PolicyRef(
                    kind="inline",
                    name=inline.name,
                    arn=principal.arn,
                    holder=f"{kind}/{principal.name}",
                    document=inline.document,
                    aimodelshare=principal.arn in ctx.aimodelshare_principals,
                )
                yield Subject(id=ref.label, arn=ref.arn, value=ref)


def _identity_policies(ctx: AuditContext) -> list[Item]:
    """What the readable parts of IAM hold, and one :class:`Unreadable` for the parts that are not."""
    items: list[Item] = list(_identity_items(ctx))
    if (gap := _needs(ctx, *IAM_PARTS)) is not None:
        items.append(gap)
    return items


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
    # the roles, and the policies attached to them (their documents are what is judged)
    if (gap := _needs(ctx, "iam:roles", "iam:policies")) is not None:
        return [gap]
    if not ctx.uses_aimodelshare:
        # the signs of AIModelShare are in users and buckets too: unread, "not used" is not known
        if (gap := _needs(ctx, "iam:users", "s3")) is not None:
            return [gap]
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
    """The execution role(s) given; when none is given, the one discovered in the inventory
    (``analysis.execution_roles``), or a :class:`NotAssessed` naming the option and the candidates."""
    inv = ctx.inventory
    if ctx.execution_role_arns:
        if (gap := _needs(ctx, "iam:roles")) is not None:
            return [gap]
        return [
            Subject(id=f"role/{arn.rsplit('/', 1)[-1]}", arn=arn, value=ExecutionRoleRef(arn, inv.role_by_arn.get(arn)))
            for arn in ctx.execution_role_arns
        ]
    # discovery reads the roles and the policies attached to them
    if (gap := _needs(ctx, "iam:roles", "iam:policies")) is not None:
        return [gap]
    found = ctx.execution_discovery
    option = f"--aws-execution-role-arn (or {aimodelshare.EXECUTION_ROLE_ENV})"
    if not found.candidates and not ctx.uses_aimodelshare:
        # the signs of AIModelShare are in users and buckets too: unread, "not used" is not known
        if (gap := _needs(ctx, "iam:users", "s3")) is not None:
            return [gap]
        return [NotApplicable(f"the account holds no AIModelShare resources and no execution role ({option})")]
    if found.chosen is None:
        return [
            NotAssessed(
                reason=f"not assessed: no execution role given and {found.why}; set {option}",
                evidence={"execution_role_candidates": [c.describe() for c in found.candidates]},
            )
        ]
    chosen = found.chosen
    ref = ExecutionRoleRef(
        arn=chosen.arn, role=inv.role_by_arn.get(chosen.arn), source="discovered", reasons=(*chosen.reasons, found.why)
    )
    return [Subject(id=f"role/{chosen.name}", arn=chosen.arn, value=ref)]


#: The consumer kinds whose environment variables the inventory reads (scope ``workload``), and the
#: call that reads them: each registered kind's ``environment_call`` (``inventory.consumer_kinds``).
WORKLOAD_KINDS = {kind.name: kind.environment_call for kind in CONSUMER_KINDS if kind.environment_call}


def _workloads(ctx: AuditContext) -> list[Item]:
    """Lambda functions and CodeBuild projects, each with its environment. A region whose functions
    or projects could not be listed is one :class:`Unreadable`; so is a workload whose variables
    could not be had (KMS) or were not collected (a snapshot written before they were)."""
    inv = ctx.inventory
    sections = [s for s in inv.consumer_sections if s.name.split(":")[0] in (*WORKLOAD_KINDS, "consumers")]
    if not sections:
        sections = [Section(name="consumers", readable=False, error="not collected", permission="lambda:ListFunctions")]
    items: list[Item] = [Unreadable(id=f"unreadable-{s.name}", sections=(s,)) for s in sections if not s.readable]
    for consumer in inv.consumers:
        if consumer.kind not in WORKLOAD_KINDS:
            continue
        ident = f"{consumer.kind}/{consumer.region}/{consumer.name}"
        if consumer.environment is not None:
            items.append(Subject(id=ident, arn=consumer.arn, value=consumer))
            continue
        gap = Section(
            name=f"{consumer.kind}:{consumer.region}/{consumer.name}",
            readable=False,
            error=consumer.environment_error or "environment variables not collected (an older snapshot)",
            permission="kms:Decrypt" if consumer.environment_error else WORKLOAD_KINDS[consumer.kind],
        )
        items.append(Unreadable(id=ident, sections=(gap,)))
    return items


def _cloudtrail(ctx: AuditContext) -> list[Item]:
    """The account's trails, judged together (one case per account)."""
    if (gap := _needs(ctx, "cloudtrail")) is not None:
        return [gap]
    inv = ctx.inventory
    trails: tuple[Trail, ...] = inv.trails
    return [Subject(id=f"account/{inv.account_id}", arn=f"arn:{inv.partition}:::{inv.account_id}", value=trails)]


def _buckets(ctx: AuditContext) -> list[Item]:
    """Every bucket. The account's public access block applies to all of them: unread, every
    bucket's exposure is unknown; a bucket whose policy or own block could not be read is too."""
    if (gap := _needs(ctx, "s3", "s3control")) is not None:
        return [gap]
    items: list[Item] = []
    for bucket in ctx.inventory.buckets:
        gaps = [
            Section(name=f"s3:{bucket.name}", readable=False, error=error, permission=permission)
            for error, permission in (
                (bucket.policy_error, "s3:GetBucketPolicy"),
                (bucket.public_access_block_error, "s3:GetBucketPublicAccessBlock"),
            )
            if error is not None
        ]
        ident = f"bucket/{bucket.name}"
        if gaps:
            items.append(Unreadable(id=ident, sections=tuple(gaps)))
        else:
            items.append(Subject(id=ident, arn=f"arn:{ctx.inventory.partition}:s3:::{bucket.name}", value=bucket))
    return items


def _account_case(ctx: AuditContext, value: Any) -> list[Item]:
    inv = ctx.inventory
    return [Subject(id=f"account/{inv.account_id}", arn=f"arn:{inv.partition}:iam::{inv.account_id}:root", value=value)]


def _root_user(ctx: AuditContext) -> list[Item]:
    """The account's root user as GetAccountSummary describes it (one case per account)."""
    if (gap := _needs(ctx, "account_summary")) is not None:
        return [gap]
    return _account_case(ctx, ctx.inventory.account_summary)


def _password_policy(ctx: AuditContext) -> list[Item]:
    """The account's password policy, ``None`` when it has none (one case per account)."""
    if (gap := _needs(ctx, "password_policy")) is not None:
        return [gap]
    return _account_case(ctx, ctx.inventory.password_policy)


@dataclass(frozen=True)
class RegionAnalyzers:
    """One audited region's Access Analyzer analyzers, or the section saying they could not be read."""

    region: str
    analyzers: tuple[Analyzer, ...]
    unreadable: Section | None = None


def _access_analyzer(ctx: AuditContext) -> list[Item]:
    """Every audited region's analyzers, judged together (one case per account); a region whose
    analyzers could not be read is in the case, unread; no region read at all is an :class:`Unreadable`."""
    inv = ctx.inventory
    if not inv.regions:  # a GetAccountAuthorizationDetails file, or a snapshot of no region
        section = inv.section("accessanalyzer")
        if section is None or section.readable:
            section = Section(
                name="accessanalyzer",
                readable=False,
                error="no region's analyzers were read",
                permission="access-analyzer:ListAnalyzers",
            )
        return [Unreadable(id="unreadable-accessanalyzer", sections=(section,))]
    states = []
    for region in inv.regions:
        section = inv.section(f"accessanalyzer:{region}") or Section(
            name=f"accessanalyzer:{region}",
            readable=False,
            error="not collected",
            permission="access-analyzer:ListAnalyzers",
        )
        found = tuple(a for a in inv.analyzers if a.region == region)
        states.append(RegionAnalyzers(region, found, None if section.readable else section))
    if states and all(s.unreadable is not None for s in states):
        gaps = tuple(s.unreadable for s in states if s.unreadable is not None)
        return [Unreadable(id="unreadable-accessanalyzer", sections=gaps)]
    return _account_case(ctx, tuple(states))


def _account_roles(ctx: AuditContext) -> list[Item]:
    """The account's roles, judged together (one case per account): the inventory is the value."""
    if (gap := _needs(ctx, "iam:roles")) is not None:
        return [gap]
    return _account_case(ctx, ctx.inventory)


def _console_users(ctx: AuditContext) -> list[Item]:
    """Users with a console password (the credential report); a user the report does not describe is
    an :class:`Unreadable` of its own."""
    if (gap := _needs(ctx, "iam:users", "credential_report")) is not None:
        return [gap]
    items: list[Item] = []
    for user in ctx.inventory.users:
        if user.password_enabled is None or (user.password_enabled and user.mfa_active is None):
            gap_section = Section(
                name="credential_report",
                readable=False,
                error=f"the credential report does not say whether {user.name} has a console password and MFA "
                "(a user created after the report was generated)",
                permission="iam:GenerateCredentialReport, iam:GetCredentialReport",
            )
            items.append(Unreadable(id=f"user/{user.name}", sections=(gap_section,)))
        elif user.password_enabled:
            items.append(Subject(id=f"user/{user.name}", arn=user.arn, value=user))
    return items or [NotApplicable("no IAM user has a console password")]


def _key_users(ctx: AuditContext) -> list[Item]:
    """Users with at least one access key; a user whose keys are not known is an :class:`Unreadable`."""
    if (gap := _needs(ctx, "iam:users", "access_keys")) is not None:
        return [gap]
    items: list[Item] = []
    for user in ctx.inventory.users:
        if user.access_keys is None:
            gap_section = Section(
                name="access_keys",
                readable=False,
                error=f"the access keys of {user.name} were not read",
                permission="iam:ListAccessKeys",
            )
            items.append(Unreadable(id=f"user/{user.name}", sections=(gap_section,)))
        elif user.access_keys:
            items.append(Subject(id=f"user/{user.name}", arn=user.arn, value=user))
    return items or [NotApplicable("no IAM user has an access key")]


SCOPES: dict[str, ScopeDef] = {
    s.name: s
    for s in (
        ScopeDef("user", "every IAM user", _users, "IAM users"),
        ScopeDef("role", "every IAM role", _roles, "IAM roles"),
        ScopeDef("principal", "every IAM user and role (service-linked roles aside)", _principals, "users and roles"),
        ScopeDef("managed_policy", "every customer managed policy", _managed, "customer managed policies"),
        ScopeDef(
            "identity_policy",
            "customer managed policies (default version) and inline policies",
            _identity_policies,
            "identity policies",
        ),
        ScopeDef(
            "policy_document",
            "identity policies and bucket policies",
            _policy_documents,
            "identity and bucket policies",
        ),
        ScopeDef("shared_role", "the four shared AIModelShare roles", _shared_roles, "shared roles"),
        ScopeDef("execution_role", "the AIModelShare execution role", _execution_roles, "execution roles"),
        ScopeDef(
            "workload",
            "every Lambda function and CodeBuild project (their environment variables)",
            _workloads,
            "Lambda functions and CodeBuild projects",
        ),
        ScopeDef("cloudtrail", "the account's CloudTrail trails (one case per account)", _cloudtrail, "accounts"),
        ScopeDef("bucket", "every S3 bucket", _buckets, "buckets"),
        ScopeDef("root_user", "the account's root user (one case per account)", _root_user, "accounts"),
        ScopeDef(
            "password_policy", "the account's IAM password policy (one case per account)", _password_policy, "accounts"
        ),
        ScopeDef(
            "access_analyzer",
            "IAM Access Analyzer in every audited region (one case per account)",
            _access_analyzer,
            "accounts",
        ),
        ScopeDef(
            "account_roles", "the account's roles, judged together (one case per account)", _account_roles, "accounts"
        ),
        ScopeDef("console_user", "every IAM user with a console password", _console_users, "console users"),
        ScopeDef("key_user", "every IAM user with an access key", _key_users, "users with access keys"),
    )
}
#: the scopes the package defines; :func:`register_scope` adds a team's beside them
BUILTIN_SCOPES = frozenset(SCOPES)
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_scope(
    name: str, description: str, provide: Callable[[AuditContext], list[Item]], noun: str = ""
) -> ScopeDef:
    """Add the scope ``name``: ``provide`` turns the audit context into its items (each a
    :class:`Subject` with a readable id, an :class:`Unreadable` for what could not be read, or a
    :class:`NotApplicable`). Called from a ``pytest_ams_iam_audit_register`` hook, before rules
    are collected; a rule with ``scope=name`` then takes an argument ``name``. Registering the same
    scope again with the same function is a no-op; redefining one (a built-in above all) raises
    ``ValueError``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"scope {name!r}: a scope is a fixture name (lowercase letters, digits, underscores)")
    if name in {"audit", "inventory", "evidence", "request"}:
        raise ValueError(f"scope {name!r}: that name is a fixture of the plugin already")
    existing = SCOPES.get(name)
    if existing is not None:
        if existing.provide is provide:
            return existing
        raise ValueError(f"scope {name!r} is defined already ({existing.description}): pick another name")
    scope = ScopeDef(name, description, provide, noun)
    SCOPES[name] = scope
    return scope


def subjects_for(
    scope: str,
    ctx: AuditContext,
    select: Callable[[Any], bool] | None = None,
    select_description: str | None = None,
    judges: Callable[[Any, AuditContext], bool] | None = None,
    criterion: str | None = None,
) -> list[Case]:
    """The parametrization of one rule: its scope's items, narrowed by ``select``, never empty.

    With ``judges`` (a rule's cheap test of whether a subject holds anything it judges), the
    subjects it says ``False`` for give way to one :class:`Examined` case that stands for them;
    ``criterion`` says what they hold nothing of. A test that raises keeps the subject: the rule
    then judges it, and reports what is wrong with it."""
    items = ctx.scope_items(scope)
    if select is not None:
        items = [i for i in items if not isinstance(i, Subject) or select(i.value)]
    if not any(isinstance(i, Subject | Unreadable | NotAssessed) for i in items):
        reasons = [i.reason for i in items if isinstance(i, NotApplicable)]
        what = SCOPES[scope].description + (f" ({select_description})" if select_description else "")
        return [NotApplicable(reasons[0] if reasons else f"the account holds no {what}")]
    cases: list[Case] = [i for i in items if not isinstance(i, NotApplicable)]
    if judges is None:
        return cases
    kept: list[Case] = []
    others: list[str] = []
    for case in cases:
        if isinstance(case, Subject) and not _judged(judges, case, ctx):
            others.append(case.id)
        else:
            kept.append(case)
    if others:
        noun = SCOPES[scope].counted + (f" ({select_description})" if select_description else "")
        total = sum(isinstance(c, Subject) for c in cases)
        kept.append(
            Examined(total=total, noun=noun, criterion=criterion or "hold nothing it judges", resources=tuple(others))
        )
    return kept


def _judged(judges: Callable[[Any, AuditContext], bool], subject: Subject, ctx: AuditContext) -> bool:
    try:
        return bool(judges(subject.value, ctx))
    except Exception:  # the rule's own case will say what is wrong with the subject
        return True
