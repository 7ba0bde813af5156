"""From failing findings to an ordered plan of fix actions, each previewable and applicable.

The plan is made from the inventory alone (no AWS call), so ``--fix-dry-run`` can print every call
a fix would make. Applying an action reads the live state again and makes its calls through
``iam_utils`` and ``consumers``; both compute calls with the same functions (``iam_utils.*_calls``),
so what is previewed is what is done unless the account changed in between.

Order, and why:

1. the shared roles a fix needs (``aimodelshare.shared_roles``): role, trust, policy, attachment;
2. every consumer of a per-deployment role moved to its shared replacement, and every REST API a
   killed run left half-deployed redeployed;
3. per-deployment roles emptied, once nothing uses them (checked live, again): tagged
   ``RETIRING_TAG``, their policies detached. A role used within ``--fix-min-idle-days`` (its
   ``RoleLastUsed``, and at apply time IAM's service last accessed data) is kept, because IAM does
   not say *who* used it: its known consumers are still re-pointed, and a later run retires it
   once it has stayed unused (:func:`recent_use`);
4. ephemeral users retired (keys deactivated first), unless a key was used within
   ``--fix-min-idle-days`` (:func:`recent_key_use`); with ``--fix-retire-in-use`` such a user's keys
   are only deactivated, and a run after ``--fix-retire-grace-days`` deletes it (``users``);
5. per-deployment and temporary-access policies deleted, once nothing holds them;
6. the emptied roles deleted (last, so a killed run leaves each role tagged and recognisable);
7. wildcard S3 grants in the remaining AIModelShare policies narrowed (``policy.rewrite``);
8. the execution role (the guide's migration step 1) created, or its failing trust replaced, when
   the operator named who may assume it (``--fix-execution-role-trust``): :class:`EnsureExecutionRole`.

An action whose prerequisite did not complete is skipped, so nothing is deleted while something
may still use it. What cannot be fixed safely is listed with the reason, and its finding stays.

Each fixable rule has one planner, registered with ``@planner(rule id)`` (:data:`PLANNERS`;
:data:`FIXABLE_RULES` is its keys): it turns the rule's failing findings into actions on a
:class:`Draft`, in registration order, reading what earlier planners decided (``after``). Each kind
of :class:`Action` declares the IAM actions its ``apply`` calls (``permissions``), from which
``remediate.permissions`` derives the policy ``ams-iam-audit fix-policy`` prints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from .. import aimodelshare, iam_utils
from ..aimodelshare import SharedRole
from ..aws import AwsClients
from ..findings import Finding, Outcome
from ..iam_utils.changes import Call, Executor
from ..inventory.model import RETIRING_TAG, Consumer, Inventory, ManagedPolicy, Role, User
from ..policy.rewrite import least_privilege_s3
from ..scopes import AuditContext, ExecutionRoleRef, NotApplicable, NotAssessed, PolicyRef, Subject, subjects_for
from . import boundary as boundary_ops
from . import consumers as consumer_ops
from . import users as user_ops

__all__ = [
    "ACTION_KINDS",
    "FIXABLE_RULES",
    "PLANNERS",
    "Action",
    "DeactivateKeys",
    "DeletePolicy",
    "DeleteRole",
    "Draft",
    "EmptyRole",
    "EnsureExecutionRole",
    "EnsureSharedRole",
    "FixContext",
    "FixOptions",
    "Plan",
    "Planner",
    "Redeploy",
    "Repoint",
    "RetireUser",
    "RewritePolicy",
    "make_plan",
    "planner",
    "recent_key_use",
    "recent_use",
]

#: ``--fix-min-idle-days`` when not given: a legacy role used more recently than this is kept.
DEFAULT_MIN_IDLE_DAYS = 30


@dataclass(frozen=True)
class FixContext:
    clients: AwsClients
    executor: Executor
    inventory: Inventory
    #: role ARN -> IAM's service last accessed data, read once before the plan is applied
    service_access: Mapping[str, iam_utils.ServiceAccess] = field(default_factory=dict)

    @property
    def iam(self) -> Any:
        return self.clients.client("iam")


# --- inventory -> the states iam_utils computes calls from ---------------------------------------


def role_state(role: Role | None) -> iam_utils.RoleState | None:
    if role is None:
        return None
    return iam_utils.RoleState(
        name=role.name,
        arn=role.arn,
        path=role.path,
        trust=role.trust_policy,
        description=role.description or "",
        tags=dict(role.tags),
        attached=tuple(p.arn for p in role.attached_policies),
        inline={p.name: p.document for p in role.inline_policies},
    )


def policy_state(policy: ManagedPolicy | None) -> iam_utils.PolicyState | None:
    if policy is None:
        return None
    return iam_utils.PolicyState(
        arn=policy.arn,
        name=policy.name,
        path=policy.path,
        description=policy.description or "",
        attachment_count=policy.attachment_count,
        versions=tuple(
            iam_utils.PolicyVersionState(v.version_id, v.is_default, v.document, v.created) for v in policy.versions
        ),
    )


def user_state(user: User) -> iam_utils.UserState:
    return iam_utils.UserState(
        name=user.name,
        path=user.path,
        tags=dict(user.tags),
        access_keys=tuple((k.masked_id or f"<key {k.slot}>", k.status) for k in user.access_keys or ()),
        login_profile=bool(user.password_enabled),
        inline={p.name: p.document for p in user.inline_policies},
        groups=user.groups,
        attached=tuple(p.arn for p in user.attached_policies),
    )


def _role_arn(inventory: Inventory, name: str) -> str:
    return f"arn:{inventory.partition}:iam::{inventory.account_id}:role/{name}"


def _policy_arn(inventory: Inventory, name: str) -> str:
    return f"arn:{inventory.partition}:iam::{inventory.account_id}:policy/{name}"


def recent_use(
    last_used: datetime | None,
    region: str | None,
    *,
    now: datetime,
    min_idle_days: int,
    repointed: tuple[str, ...],
    via: str = "",
) -> str | None:
    """Why a legacy role last used at ``last_used`` must be kept, or ``None`` when it may go.

    IAM's ``RoleLastUsed`` (and its service last accessed data) say *when* a role was last used,
    never by whom. A use before this run re-pointed the role's known consumers (``repointed``) may
    have been theirs, but may as well have been an ECS task, an EC2 instance, a state machine or
    another account that nobody knows of. So the rule is conservative: a role used within the last
    ``min_idle_days`` days is kept, whoever its known consumers are; once they are re-pointed, the
    role stays unused if nothing else uses it, and a later ``--fix`` retires it. ``min_idle_days``
    0 turns the check off."""
    if min_idle_days <= 0 or last_used is None:
        return None
    if last_used.tzinfo is None:  # a date without a zone (a hand-made GAAD file) is IAM's UTC
        last_used = last_used.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    age = now - last_used
    if age >= timedelta(days=min_idle_days):
        return None
    days = max(age.days, 0)
    ago = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
    where = f" in {region}" if region else ""
    head = f"role last used {last_used:%Y-%m-%d}{where}{via}, {ago}, within --fix-min-idle-days={min_idle_days}"
    if repointed:
        return (
            f"{head}; the consumers re-pointed this run were {', '.join(repointed)}, but IAM does not say who "
            f"used the role, so it is kept: a later --fix retires it once it has been unused for {min_idle_days} "
            "days"
        )
    return (
        f"{head}, and no consumer this run reads (Lambda, CodeBuild, API Gateway) uses it: something else does "
        "(ECS, EC2, Step Functions, another account...); move that to a shared role first"
    )


def recent_key_use(user: User, *, now: datetime, min_idle_days: int) -> str | None:
    """Why an ephemeral user whose access key was used within ``min_idle_days`` is kept (a client
    still signs with it, and a deleted key cannot come back), or ``None``. The inventory's last use
    is the credential report's or GetAccessKeyLastUsed's."""
    if min_idle_days <= 0:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    for key in user.access_keys or ():
        last = key.last_used
        if last is None:
            continue
        last = last if last.tzinfo is not None else last.replace(tzinfo=UTC)
        age = now - last
        if age >= timedelta(days=min_idle_days):
            continue
        days = max(age.days, 0)
        ago = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
        name = key.masked_id or f"in slot {key.slot}"
        by = f" with {key.last_used_service}" if key.last_used_service else ""
        by += f" in {key.last_used_region}" if key.last_used_region else ""
        return (
            f"access key {name} last used {last:%Y-%m-%d}{by}, {ago}, within --fix-min-idle-days={min_idle_days}: "
            "a client still signs with it, and a deleted key cannot come back; move that client to the execution "
            "role first, and a later --fix retires the user once the key has stayed unused"
        )
    return None


# --- actions ---------------------------------------------------------------------------------------

_KINDS: dict[str, type[Action]] = {}

#: action kind (``delete-role``) -> its class; every subclass of :class:`Action` registers itself.
ACTION_KINDS: Mapping[str, type[Action]] = MappingProxyType(_KINDS)


def _needs(*declared: Iterable[str]) -> frozenset[str]:
    """The union of what the functions an action calls declare (their module's ``PERMISSIONS``)."""
    return frozenset(action for actions in declared for action in actions)


@dataclass(frozen=True, kw_only=True)
class Action:
    """One step of a plan. ``target`` is a resource id as findings name it (``role/x``)."""

    kind: ClassVar[str] = ""
    #: The IAM actions :meth:`apply` may call, reads included, as the functions it calls declare them
    #: (Cloud Custodian's ``Element.permissions``); ``remediate.permissions`` derives the policy
    #: ``ams-iam-audit fix-policy`` prints from every kind's. Every kind declares its own.
    permissions: ClassVar[frozenset[str]] = frozenset()
    target: str
    reason: str
    addresses: tuple[tuple[str, str], ...] = ()
    requires: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register each kind in :data:`ACTION_KINDS`, refusing a second class of the same kind and
        a kind that declares no permissions (its calls would be missing from the fix policy)."""
        super().__init_subclass__(**kwargs)
        if not cls.kind or cls.kind in _KINDS:
            raise TypeError(f"{cls.__name__}: action kind {cls.kind!r} is empty or taken")
        if not cls.permissions:
            raise TypeError(f"{cls.__name__}: an action kind declares the permissions its apply() needs")
        _KINDS[cls.kind] = cls

    @property
    def key(self) -> str:
        return f"{self.kind} {self.target}"

    def preview(self, inventory: Inventory) -> list[Call]:
        """The calls this action makes if the account is as ``inventory`` recorded it."""
        raise NotImplementedError

    def apply(self, ctx: FixContext) -> None:
        raise NotImplementedError

    def to_json(self, inventory: Inventory) -> dict[str, Any]:
        calls = self.preview(inventory)
        return {
            "key": self.key,
            "kind": self.kind,
            "target": self.target,
            "reason": self.reason,
            "requires": list(self.requires),
            "addresses": [{"rule_id": r, "resource": res} for r, res in self.addresses],
            "calls": [{"describe": c.describe(), **c.to_json()} for c in calls],
        }


@dataclass(frozen=True, kw_only=True)
class EnsureSharedRole(Action):
    """A shared role to its desired state: role and trust, its permissions boundary holding the
    desired policy (``boundary``: the tightening a deployment cannot undo), then the policy itself
    and its attachment."""

    kind: ClassVar[str] = "ensure-shared-role"
    permissions: ClassVar[frozenset[str]] = _needs(
        iam_utils.PERMISSIONS["ensure_role"],
        iam_utils.PERMISSIONS["ensure_managed_policy"],
        boundary_ops.PERMISSIONS["ensure_role_boundary"],
        iam_utils.PERMISSIONS["attach_managed_policy_to_role"],
        iam_utils.PERMISSIONS["retain_only_role_policies"],
    )
    spec: SharedRole
    trim: bool = False  # also remove every other policy from the role (AMS-SHARED-003)

    def preview(self, inventory: Inventory) -> list[Call]:
        spec = self.spec
        role = inventory.role_by_name.get(spec.role_name)
        state = role_state(role)
        arn = _policy_arn(inventory, spec.policy_name)
        document = spec.policy_for(inventory.account_id)
        boundary = spec.boundary_arn(inventory.partition, inventory.account_id)
        calls = iam_utils.role_calls(state, spec.role_name, spec.trust, spec.description, spec.tags)
        calls += iam_utils.policy_calls(
            policy_state(inventory.policy_by_arn.get(boundary)),
            boundary,
            spec.boundary_name,
            document,
            spec.boundary_description,
        )
        calls += boundary_ops.boundary_calls(spec.role_name, role.permissions_boundary if role else None, boundary)
        calls += iam_utils.policy_calls(
            policy_state(inventory.policy_by_arn.get(arn)), arn, spec.policy_name, document, spec.policy_description
        )
        calls += iam_utils.attach_calls(state.attached if state else (), spec.role_name, arn)
        if self.trim and state is not None:
            calls += iam_utils.trim_calls(state, frozenset({arn}), frozenset())
        return calls

    def apply(self, ctx: FixContext) -> None:
        spec, account = self.spec, ctx.inventory.account_id
        iam_utils.ensure_role(
            ctx.iam, spec.role_name, spec.trust, spec.description, tags=spec.tags, executor=ctx.executor
        )
        boundary, _, _ = iam_utils.ensure_managed_policy(
            ctx.iam,
            spec.boundary_name,
            spec.policy_for(account),
            spec.boundary_description,
            account_id=account,
            path=aimodelshare.BOUNDARY_PATH,
            executor=ctx.executor,
        )
        boundary_ops.ensure_role_boundary(ctx.iam, spec.role_name, boundary, executor=ctx.executor)
        arn, _, _ = iam_utils.ensure_managed_policy(
            ctx.iam,
            spec.policy_name,
            spec.policy_for(account),
            spec.policy_description,
            account_id=account,
            executor=ctx.executor,
        )
        iam_utils.attach_managed_policy_to_role(ctx.iam, spec.role_name, arn, executor=ctx.executor)
        if self.trim:
            iam_utils.retain_only_role_policies(ctx.iam, spec.role_name, frozenset({arn}), executor=ctx.executor)


@dataclass(frozen=True, kw_only=True)
class EnsureExecutionRole(Action):
    """The execution role with the trust the operator asked for (``aimodelshare.execution_role_trust``:
    people only with MFA), tagged so that discovery finds it again; its permissions are the operator's
    to attach. Through ``iam_utils.ensure_role``: a second run changes nothing."""

    kind: ClassVar[str] = "ensure-execution-role"
    permissions: ClassVar[frozenset[str]] = _needs(iam_utils.PERMISSIONS["ensure_role"])
    role_name: str
    trust: Mapping[str, Any] = field(hash=False)

    @property
    def tags(self) -> dict[str, str]:
        return {aimodelshare.EXECUTION_ROLE_TAG: "ams-iam-audit --fix", "managed-by": "ams-iam-audit"}

    def preview(self, inventory: Inventory) -> list[Call]:
        state = role_state(inventory.role_by_name.get(self.role_name))
        return iam_utils.role_calls(
            state, self.role_name, self.trust, aimodelshare.EXECUTION_ROLE_DESCRIPTION, self.tags
        )

    def apply(self, ctx: FixContext) -> None:
        iam_utils.ensure_role(
            ctx.iam,
            self.role_name,
            self.trust,
            aimodelshare.EXECUTION_ROLE_DESCRIPTION,
            tags=self.tags,
            executor=ctx.executor,
        )


_TRUST_OPTION = "--fix-execution-role-trust ARN (repeatable: who may assume it)"


def _with_kept_statements(trust: Mapping[str, Any], role: Role | None) -> dict[str, Any]:
    """``trust`` (the operator's principals) plus what an existing role's trust holds beside AWS
    principals: its Deny statements and its Allows to services and federated identities (a Lambda
    function or an OIDC-driven CI job that uses the role keeps working). Only the AWS principals, which
    AMS-EXEC-001 judges, are replaced."""
    new = [dict(st) for st in trust.get("Statement", ())]
    if role is None or not isinstance(role.trust_policy, Mapping):
        return {**trust, "Statement": new}
    statements = role.trust_policy.get("Statement", ())
    statements = [statements] if isinstance(statements, Mapping) else list(statements or ())
    taken = {st.get("Sid") for st in new}
    kept: list[dict[str, Any]] = []
    for statement in statements:
        if not isinstance(statement, Mapping):
            continue
        kept_one = dict(statement)
        principal = statement.get("Principal")
        if statement.get("Effect") == "Allow":
            if not isinstance(principal, Mapping) or ("AWS" in principal and len(principal) == 1):
                continue  # "*" or AWS principals only: replaced by the operator's
            if "AWS" in principal:
                kept_one["Principal"] = {k: v for k, v in principal.items() if k != "AWS"}
        if kept_one.get("Sid") in taken:
            kept_one.pop("Sid")
        kept.append(kept_one)
    return {**trust, "Statement": kept + new}


@dataclass(frozen=True, kw_only=True)
class Repoint(Action):
    kind: ClassVar[str] = "repoint"
    #: every consumer kind's (``consumers.PERMISSIONS``): which one a step needs depends on its consumer
    permissions: ClassVar[frozenset[str]] = _needs(*consumer_ops.PERMISSIONS.values())
    consumer: Consumer
    to_arn: str

    def preview(self, inventory: Inventory) -> list[Call]:
        c = self.consumer
        return consumer_ops.repoint_calls(c, c.role_arn, self.to_arn)

    def apply(self, ctx: FixContext) -> None:
        consumer_ops.repoint(ctx.clients, self.consumer, self.to_arn, ctx.executor)


@dataclass(frozen=True, kw_only=True)
class Redeploy(Action):
    kind: ClassVar[str] = "redeploy"
    permissions: ClassVar[frozenset[str]] = _needs(consumer_ops.PERMISSIONS["apigateway"])
    region: str
    api_id: str
    stages: tuple[str, ...]

    def preview(self, inventory: Inventory) -> list[Call]:
        return consumer_ops.redeploy_calls(self.region, self.api_id, dict.fromkeys(self.stages))

    def apply(self, ctx: FixContext) -> None:
        consumer_ops.redeploy(ctx.clients, self.region, self.api_id, ctx.executor)


@dataclass(frozen=True, kw_only=True)
class EmptyRole(Action):
    """First half of retiring a legacy role: once no consumer uses it (checked live), tag it
    ``RETIRING_TAG`` and detach and delete its policies. The role itself goes last (:class:`DeleteRole`),
    after its policies, so a killed run leaves a role the next run still recognises."""

    kind: ClassVar[str] = "empty-role"
    #: ``services_last_accessed`` is read for every role a plan empties, before it is applied
    #: (``FixContext.service_access``); each consumer's role is read again as re-pointing it does
    permissions: ClassVar[frozenset[str]] = _needs(
        iam_utils.PERMISSIONS["empty_role"],
        iam_utils.PERMISSIONS["services_last_accessed"],
        *consumer_ops.PERMISSIONS.values(),
    )
    role: Role
    pattern: str
    consumers: tuple[Consumer, ...] = ()
    min_idle_days: int = DEFAULT_MIN_IDLE_DAYS

    @property
    def mark(self) -> dict[str, str]:
        return {RETIRING_TAG: self.pattern}

    def preview(self, inventory: Inventory) -> list[Call]:
        state = role_state(self.role)
        assert state is not None
        return iam_utils.role_emptying_calls(state, self.mark)

    def apply(self, ctx: FixContext) -> None:
        for consumer in self.consumers:
            if consumer_ops.current_role(ctx.clients, consumer) == self.role.arn:
                raise iam_utils.RetirementRefusedError(f"{consumer.kind} {consumer.name} still uses {self.role.name}")
        iam_utils.empty_role(ctx.iam, self.role.name, mark=self.mark, keep_if=self._keep_if(ctx), executor=ctx.executor)

    def _keep_if(self, ctx: FixContext) -> Callable[[iam_utils.RoleState], str | None]:
        """The last-use check on the role as read just before it is emptied: its ``RoleLastUsed``
        now, and what IAM's service last accessed data said before the plan was applied."""
        access = ctx.service_access.get(self.role.arn)
        repointed = tuple(f"{c.kind}/{c.name}" for c in self.consumers)

        def keep_if(state: iam_utils.RoleState) -> str | None:
            now = datetime.now(UTC)
            kept = recent_use(
                state.last_used,
                state.last_used_region,
                now=now,
                min_idle_days=self.min_idle_days,
                repointed=repointed,
            )
            if kept is None and access is not None and access.last_used is not None:
                kept = recent_use(
                    access.last_used,
                    access.region,
                    now=now,
                    min_idle_days=self.min_idle_days,
                    repointed=repointed,
                    via=f" (IAM's service last accessed data: {access.service or 'a service'})",
                )
            return kept

        return keep_if


@dataclass(frozen=True, kw_only=True)
class DeleteRole(Action):
    kind: ClassVar[str] = "delete-role"
    permissions: ClassVar[frozenset[str]] = _needs(iam_utils.PERMISSIONS["delete_role"])
    role: Role

    def preview(self, inventory: Inventory) -> list[Call]:
        state = role_state(self.role)
        assert state is not None
        return iam_utils.role_deletion_calls(state)

    def apply(self, ctx: FixContext) -> None:
        iam_utils.delete_role(ctx.iam, self.role.name, executor=ctx.executor)


@dataclass(frozen=True, kw_only=True)
class RetireUser(Action):
    """Delete an ephemeral user in AWS's order. ``since`` is set on the second run of a
    ``--fix-retire-in-use`` retirement: the keys deactivated then are checked live to be still
    inactive and unused since before anything is deleted (``users.check_unused_since``)."""

    kind: ClassVar[str] = "retire-user"
    permissions: ClassVar[frozenset[str]] = _needs(
        iam_utils.PERMISSIONS["retire_user"], user_ops.PERMISSIONS["check_unused_since"]
    )
    user: User
    since: datetime | None = None

    def preview(self, inventory: Inventory) -> list[Call]:
        return iam_utils.user_retirement_calls(user_state(self.user))

    def apply(self, ctx: FixContext) -> None:
        if self.since is not None:
            user_ops.check_unused_since(ctx.iam, self.user.name, self.since)
        iam_utils.retire_user(ctx.iam, self.user.name, executor=ctx.executor)


@dataclass(frozen=True, kw_only=True)
class DeactivateKeys(Action):
    """First run of ``--fix-retire-in-use``: the user's active keys made inactive and the user tagged
    ``users.DEACTIVATED_TAG`` with the time; nothing is deleted (a later run does, see ``users``)."""

    kind: ClassVar[str] = "deactivate-keys"
    permissions: ClassVar[frozenset[str]] = _needs(user_ops.PERMISSIONS["deactivate_keys"])
    user: User
    when: datetime

    def preview(self, inventory: Inventory) -> list[Call]:
        state = user_state(self.user)
        previous = state.tags.get(user_ops.DEACTIVATED_TAG)
        return user_ops.deactivation_calls(state.name, state.access_keys, previous, self.when)

    def apply(self, ctx: FixContext) -> None:
        user_ops.deactivate_keys(ctx.iam, self.user.name, executor=ctx.executor)


@dataclass(frozen=True, kw_only=True)
class DeletePolicy(Action):
    kind: ClassVar[str] = "delete-policy"
    permissions: ClassVar[frozenset[str]] = _needs(iam_utils.PERMISSIONS["delete_managed_policy"])
    policy: ManagedPolicy

    def preview(self, inventory: Inventory) -> list[Call]:
        state = policy_state(self.policy)
        assert state is not None
        return iam_utils.policy_deletion_calls(state)

    def apply(self, ctx: FixContext) -> None:
        iam_utils.delete_managed_policy(ctx.iam, self.policy.arn, executor=ctx.executor)


@dataclass(frozen=True, kw_only=True)
class RewritePolicy(Action):
    kind: ClassVar[str] = "rewrite-policy"
    permissions: ClassVar[frozenset[str]] = _needs(
        iam_utils.PERMISSIONS["ensure_managed_policy"],
        iam_utils.PERMISSIONS["ensure_bucket_policy"],
        iam_utils.PERMISSIONS["ensure_inline_policy"],
    )
    ref: PolicyRef
    document: Mapping[str, Any] = field(hash=False)

    def preview(self, inventory: Inventory) -> list[Call]:
        ref = self.ref
        if ref.kind == "managed":
            state = policy_state(inventory.policy_by_arn.get(ref.arn))
            return iam_utils.policy_calls(state, ref.arn, ref.name, self.document)
        body = iam_utils.json_text(self.document)
        if ref.kind == "bucket":
            return [Call("s3", "put_bucket_policy", {"Bucket": ref.name, "Policy": body})]
        kind, holder = self._holder()
        return [
            Call(
                "iam",
                f"put_{kind}_policy",
                {iam_utils.INLINE_KEY[kind]: holder, "PolicyName": ref.name, "PolicyDocument": body},
            )
        ]

    def _holder(self) -> tuple[str, str]:
        kind, _, name = (self.ref.holder or "").partition("/")
        return kind, name

    def apply(self, ctx: FixContext) -> None:
        ref = self.ref
        if ref.kind == "managed":
            iam_utils.ensure_managed_policy(
                ctx.iam,
                ref.name,
                self.document,
                account_id=ctx.inventory.account_id,
                path=ref.arn.split(":policy", 1)[1].rsplit("/", 1)[0] + "/",
                executor=ctx.executor,
            )
        elif ref.kind == "bucket":
            iam_utils.ensure_bucket_policy(ctx.clients.client("s3"), ref.name, self.document, executor=ctx.executor)
        else:
            kind, holder = self._holder()
            iam_utils.ensure_inline_policy(ctx.iam, holder, ref.name, self.document, holder=kind, executor=ctx.executor)


# --- the plan --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    #: (rule id, resource) -> why ``--fix`` leaves that failing finding as it is
    not_fixable: Mapping[tuple[str, str], str]

    def actions_for(self, finding: Finding) -> list[Action]:
        """The actions that address ``finding`` or change its resource."""
        return [a for a in self.actions if finding.key in a.addresses or a.target == finding.resource]

    def to_json(self, inventory: Inventory) -> dict[str, Any]:
        return {
            "format": "ams-iam-audit/fix-plan",
            "version": 1,
            "account": inventory.account_id,
            "planned_from": {"source": inventory.source, "collected_at": inventory.collected_at.isoformat()},
            "actions": [a.to_json(inventory) for a in self.actions],
            "not_fixable": [
                {"rule_id": r, "resource": res, "reason": reason}
                for (r, res), reason in sorted(self.not_fixable.items())
            ],
        }


@dataclass(frozen=True)
class FixOptions:
    """What the operator asked of this fix (the ``--fix-*`` options), as the planners read it."""

    #: ``--fix-unowned``: S3 rewrites may change policies AIModelShare does not own
    unowned: bool
    #: ``--fix-min-idle-days``: a legacy role or a key used within this many days of ``now`` is kept
    min_idle_days: int
    #: the clock the idle days run on (when the inventory was collected, unless told)
    now: datetime
    #: ``--fix-retire-in-use`` and ``--fix-retire-grace-days`` (``users.decide``)
    retire_in_use: bool
    grace_days: int
    #: ``--fix-execution-role-trust``: who may assume the execution role
    execution_trust: tuple[str, ...]


@dataclass
class Draft:
    """A plan while the planners make it, one :func:`make_plan` call long: what each planner decided,
    for the planners after it and for :meth:`plan`, which puts the actions in the order of the
    module's docstring. Mutable on purpose and never kept: :class:`Plan` is the frozen result."""

    ctx: AuditContext
    options: FixOptions
    #: (rule id, resource) -> why that failing finding is left as it is
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    #: shared role name -> the findings its ``ensure-shared-role`` addresses (none: a legacy role's
    #: replacement, ensured because consumers move to it)
    shared: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: shared roles to strip of every other policy (AMS-SHARED-003)
    trim: set[str] = field(default_factory=set)
    #: REST APIs a killed run left half-deployed (read from the inventory, whatever the findings)
    redeploys: list[Redeploy] = field(default_factory=list)
    repoints: list[Repoint] = field(default_factory=list)
    emptyings: list[EmptyRole] = field(default_factory=list)
    role_deletions: list[DeleteRole] = field(default_factory=list)
    deactivations: list[DeactivateKeys] = field(default_factory=list)
    user_retirements: list[RetireUser] = field(default_factory=list)
    #: ARNs of the roles and users this plan retires: their inline policies go with them, and a
    #: policy only they hold can be deleted
    retiring: set[str] = field(default_factory=set)
    #: resource -> its deletion (one action even when two rules fail on the policy)
    deletions: dict[str, DeletePolicy] = field(default_factory=dict)
    #: resource -> its rewrite (likewise)
    rewrites: dict[str, RewritePolicy] = field(default_factory=dict)
    execution: list[EnsureExecutionRole] = field(default_factory=list)

    @property
    def inventory(self) -> Inventory:
        return self.ctx.inventory

    def retired_by(self, arn: str) -> str:
        """The key of the action that retires the role or user ``arn`` (one in :attr:`retiring`)."""
        by = {a.role.arn: a.key for a in self.emptyings} | {a.user.arn: a.key for a in self.user_retirements}
        return by[arn]

    def plan(self) -> Plan:
        ensures = [
            EnsureSharedRole(
                target=f"role/{spec.role_name}",
                spec=spec,
                trim=spec.role_name in self.trim,
                reason="shared role of the refactored library, to its desired state",
                addresses=tuple(self.shared[spec.role_name]),
            )
            for spec in aimodelshare.shared_roles()
            if spec.role_name in self.shared
        ]
        actions: list[Action] = [
            *ensures,
            *self.repoints,
            *self.redeploys,
            *self.emptyings,
            *self.deactivations,
            *self.user_retirements,
            *self.deletions.values(),
            *self.role_deletions,
            *self.rewrites.values(),
            *self.execution,
        ]
        return Plan(actions=tuple(actions), not_fixable=self.notes)


#: A rule's planner: called once per plan with the rule's id and the resources of its failing
#: findings (possibly none), it adds actions, or notes why not, to the draft.
Planner = Callable[[str, Sequence[str], Draft], None]

_PLANNERS: dict[str, Planner] = {}

#: rule id -> its planner, in the order :func:`make_plan` runs them (the order they are registered
#: in, below): a planner reads what those before it decided.
PLANNERS: Mapping[str, Planner] = MappingProxyType(_PLANNERS)


def planner(*rule_ids: str, after: tuple[str, ...] = ()) -> Callable[[Planner], Planner]:
    """Register the decorated function as the planner of ``rule_ids``. ``after``: the rules whose
    planners must have run first (their decisions are read), which must be registered already."""

    def register(fn: Planner) -> Planner:
        taken = [r for r in rule_ids if r in _PLANNERS]
        if taken:
            raise ValueError(f"{fn.__name__}: {', '.join(taken)} already planned by {_PLANNERS[taken[0]].__name__}")
        missing = [r for r in after if r not in _PLANNERS]
        if missing:
            raise ValueError(f"{fn.__name__} reads the plans of {', '.join(missing)}: register it after them")
        for rule_id in rule_ids:
            _PLANNERS[rule_id] = fn
        return fn

    return register


def _name(resource: str) -> str:
    return resource.split("/", 1)[1]


@planner("AMS-EXEC-001")
def _plan_execution_role(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """Migration step 1: the execution role given (or discovered) whose AMS-EXEC-001 fails gets the
    operator's trust; when none is given and none is found, ``aimodelshare-execution-role`` is created
    with it (with no failing finding too, when the rule did not apply and the trust is given).
    Without ``--fix-execution-role-trust`` nothing is changed, and the notes say which option to give."""
    inv, notes, principals = draft.inventory, draft.notes, draft.options.execution_trust
    failed = set(failing)
    targets: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for item in subjects_for("execution_role", draft.ctx):
        if isinstance(item, Subject) and isinstance(item.value, ExecutionRoleRef) and item.id in failed:
            ref = item.value
            name = ref.arn.rsplit("/", 1)[-1]
            if ref.role is None and ref.arn.split(":", 5)[-1] != f"role/{name}":
                notes[(rule_id, item.id)] = f"{ref.arn} has a path: create it by hand"
                continue
            targets.append((name, ((rule_id, item.id),)))
        elif isinstance(item, NotAssessed):
            if item.evidence.get("execution_role_candidates"):
                notes[(rule_id, item.id)] = (
                    "several roles may be the execution role: name it with --aws-execution-role-arn"
                )
                continue
            addresses: tuple[tuple[str, str], ...] = ((rule_id, item.id), ("AMS-EXEC-002", item.id))
            targets.append((aimodelshare.EXECUTION_ROLE_NAME, addresses))
        elif isinstance(item, NotApplicable) and principals:
            targets.append((aimodelshare.EXECUTION_ROLE_NAME, ()))
    if not principals:
        for _, addresses in targets:
            for key in addresses[:1]:
                notes[key] = f"--fix creates the execution role or replaces its trust when told {_TRUST_OPTION}"
        return
    try:
        trust = aimodelshare.execution_role_trust(principals, inv.account_id)
    except ValueError as exc:
        for _, addresses in targets:
            for key in addresses[:1]:
                notes[key] = f"--fix-execution-role-trust: {exc}"
        return
    draft.execution += [
        EnsureExecutionRole(
            target=f"role/{name}",
            role_name=name,
            trust=_with_kept_statements(trust, inv.role_by_name.get(name)),
            reason="the AIModelShare execution role (migration step 1), trusting "
            + ", ".join(principals)
            + " (people only with MFA)",
            addresses=addresses,
        )
        for name, addresses in targets
    ]


@planner("AMS-SHARED-001", "AMS-SHARED-002", "AMS-SHARED-003", "AMS-SHARED-004", "AMS-SHARED-005")
def _plan_shared_role(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """A shared role failing any of its rules is brought to its desired state by one
    ``ensure-shared-role`` (with AMS-SHARED-003, stripped of every other policy too); an operator's
    own permissions boundary (AMS-SHARED-004) is never replaced."""
    inv = draft.inventory
    for resource in failing:
        role = inv.role_by_name.get(_name(resource))
        spec = aimodelshare.shared_role(_name(resource))
        if (
            rule_id == "AMS-SHARED-004"
            and role is not None
            and spec is not None
            and role.permissions_boundary not in (None, spec.boundary_arn(inv.partition, inv.account_id))
        ):
            draft.notes[(rule_id, resource)] = (
                f"the role has another permissions boundary ({role.permissions_boundary}): --fix never replaces "
                "an operator's boundary; make it hold no more than the desired state, or remove it and run --fix"
            )
            continue
        draft.shared.setdefault(_name(resource), []).append((rule_id, resource))
        if rule_id == "AMS-SHARED-003":
            draft.trim.add(_name(resource))


def _pending_redeploys(inv: Inventory) -> list[Redeploy]:
    """A new deployment for every REST API a previous fix changed and did not redeploy (tagged
    ``REDEPLOY_TAG``): before any role is retired, whatever this run's findings."""
    pending: dict[tuple[str, str], Consumer] = {}
    for c in inv.consumers:
        if c.pending_stages:
            pending.setdefault((c.region, c.arn.split("/restapis/")[1].split("/")[0]), c)
    return [
        Redeploy(
            target=f"restapi/{api}",
            region=region,
            api_id=api,
            stages=c.pending_stages,
            reason=f"a previous fix changed an integration of {c.name.split(' ')[0]} and did not redeploy "
            + ", ".join(c.pending_stages),
        )
        for (region, api), c in sorted(pending.items())
    ]


@planner("AMS-ROLE-001")
def _plan_legacy_role(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """A per-deployment role: its consumers re-pointed to its shared replacement (ensured), then
    emptied and deleted, unless it cannot be shown unused (a consumer section unread, a region not
    read, a consumer --fix cannot move, no replacement) or was used within ``--fix-min-idle-days``."""
    inv, ctx, options = draft.inventory, draft.ctx, draft.options
    gaps = [s.describe() for s in inv.consumer_sections if not s.readable]
    for resource in failing:
        role = inv.role_by_name.get(_name(resource))
        match = ctx.legacy_role(role) if role else None
        if role is None or match is None:
            draft.notes[(rule_id, resource)] = "not a per-deployment role in this inventory"
            continue
        used_by = inv.consumers_by_role_arn.get(role.arn, ())
        why_not = None
        if gaps:
            why_not = (
                "consumers could not be read everywhere (" + "; ".join(gaps) + "): the role cannot be shown unused"
            )
        elif role.last_used_region and role.last_used_region not in inv.regions:
            why_not = (
                f"last used in {role.last_used_region}, a region this run did not read: "
                f"add --aws-region {role.last_used_region}"
            )
        elif stuck := [c for c in used_by if c.kind not in consumer_ops.REPOINTABLE]:
            why_not = (
                f"used by {', '.join(f'{c.kind} {c.name} ({c.region})' for c in stuck[:5])}, which --fix cannot "
                "move to another role: move it by hand, then run --fix again"
            )
        elif match.replaced_by is None and used_by:
            why_not = (
                f"the refactoring has no shared replacement for {match.pattern}; its {len(used_by)} consumer(s) "
                "must be moved by hand"
            )
        if why_not is not None:
            draft.notes[(rule_id, resource)] = why_not
            continue
        requires = [r.key for r in draft.redeploys]
        if match.replaced_by is not None:
            draft.shared.setdefault(match.replaced_by, [])
            requires.append(f"{EnsureSharedRole.kind} role/{match.replaced_by}")
            to_arn = _role_arn(inv, match.replaced_by)
            for consumer in used_by:
                step = Repoint(
                    target=f"{consumer.kind}/{consumer.name}",
                    consumer=consumer,
                    to_arn=to_arn,
                    reason=f"uses {role.name}; moves to {match.replaced_by}",
                    requires=(f"{EnsureSharedRole.kind} role/{match.replaced_by}",),
                )
                draft.repoints.append(step)
                requires.append(step.key)
        in_use = recent_use(
            role.last_used,
            role.last_used_region,
            now=options.now,
            min_idle_days=options.min_idle_days,
            repointed=tuple(f"{c.kind}/{c.name}" for c in used_by) if match.replaced_by is not None else (),
        )
        if in_use is not None:
            draft.notes[(rule_id, resource)] = in_use
            continue
        emptying = EmptyRole(
            target=resource,
            role=role,
            pattern=match.pattern,
            consumers=used_by,
            min_idle_days=options.min_idle_days,
            reason=f"legacy per-deployment role ({match.pattern}): tag it, detach and delete its policies",
            requires=tuple(requires),
        )
        draft.emptyings.append(emptying)
        draft.role_deletions.append(
            DeleteRole(
                target=resource,
                role=role,
                reason=f"legacy per-deployment role ({match.pattern}), unused and empty",
                addresses=((rule_id, resource),),
                requires=(emptying.key,),
            )
        )
        draft.retiring.add(role.arn)


@planner("AMS-USER-001")
def _plan_ephemeral_user(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """An ``AI_MODELSHARE_<ts>`` user retired, or its keys deactivated first, or kept (``users.decide``)."""
    inv, options = draft.inventory, draft.options
    for resource in failing:
        user = next((u for u in inv.users if u.name == _name(resource)), None)
        if user is None:
            continue
        if not aimodelshare.is_ephemeral_user(user.name):
            draft.notes[(rule_id, resource)] = (
                "holds a temporary-access policy but is not named like the library's users: --fix deletes only "
                "AI_MODELSHARE_<timestamp> users; detach the policy from this one by hand"
            )
            continue
        decision = user_ops.decide(
            user,
            recent_key_use(user, now=options.now, min_idle_days=options.min_idle_days),
            now=options.now,
            retire_in_use=options.retire_in_use,
            grace_days=options.grace_days,
        )
        if decision.step == "keep":
            draft.notes[(rule_id, resource)] = decision.reason
        elif decision.step == "deactivate":
            draft.deactivations.append(
                DeactivateKeys(target=resource, user=user, when=options.now, reason=decision.reason)
            )
        else:
            draft.user_retirements.append(
                RetireUser(
                    target=resource,
                    user=user,
                    since=decision.since,
                    reason=decision.reason,
                    addresses=((rule_id, resource),),
                )
            )
            draft.retiring.add(user.arn)


@planner("AMS-ROLE-002", "AMS-POLICY-001", after=("AMS-ROLE-001", "AMS-USER-001"))
def _plan_legacy_policy(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """A legacy or temporary-access policy deleted once nothing but what this plan retires holds it."""
    inv = draft.inventory
    for resource in failing:
        policy = next((p for p in inv.policies if p.name == _name(resource) and not p.aws_managed), None)
        if policy is None:
            continue
        holders = inv.attachments.get(policy.arn, ())
        kept = [h for h in holders if h not in draft.retiring]
        if kept:
            draft.notes[(rule_id, resource)] = "still attached to " + ", ".join(h.split(":", 5)[-1] for h in kept)
            continue
        previous = draft.deletions.get(resource)
        draft.deletions[resource] = DeletePolicy(
            target=resource,
            policy=policy,
            reason="legacy AIModelShare policy, unattached once its holders are retired",
            addresses=(*(previous.addresses if previous else ()), (rule_id, resource)),
            requires=tuple(draft.retired_by(h) for h in holders),
        )


@planner("AMS-S3-001", "AMS-S3-002", after=("AMS-ROLE-001", "AMS-USER-001", "AMS-ROLE-002", "AMS-POLICY-001"))
def _plan_s3_rewrite(rule_id: str, failing: Sequence[str], draft: Draft) -> None:
    """Wildcard S3 grants narrowed in a policy AIModelShare owns (any, with ``--fix-unowned``), unless
    the policy is deleted, replaced by its shared role's desired state, or goes with its holder."""
    inv = draft.inventory
    refs = {
        item.id: item.value
        for item in subjects_for("policy_document", draft.ctx)
        if isinstance(item, Subject) and isinstance(item.value, PolicyRef)
    }
    for resource in failing:
        ref = refs.get(resource)
        if ref is None:
            continue
        key = (rule_id, resource)
        if resource in draft.deletions or (ref.kind == "managed" and ref.name in aimodelshare.shared_policy_names()):
            continue  # deleted, or replaced by its shared role's desired policy
        if ref.kind == "inline" and ref.arn in draft.retiring:
            continue  # goes with its holder
        if not ref.aimodelshare and not draft.options.unowned:
            draft.notes[key] = (
                "not owned by AIModelShare: --fix leaves it alone (--fix-unowned changes it); the "
                "finding's evidence holds a suggested replacement"
            )
            continue
        rewrite = least_privilege_s3(
            ref.document, inv.account_id, inv.partition, bucket=ref.name if ref.kind == "bucket" else None
        )
        if rewrite.document is None:
            draft.notes[key] = rewrite.reason or "nothing to rewrite"
            continue
        previous = draft.rewrites.get(resource)
        draft.rewrites[resource] = RewritePolicy(
            target=resource,
            ref=ref,
            document=rewrite.document,
            reason="wildcard S3 grants narrowed to the library's named actions on its own buckets",
            addresses=(*(previous.addresses if previous else ()), key),
        )


#: Rules whose failing findings ``--fix`` turns into actions: those with a planner. Others can
#: still end "fixed" as a side effect (a broad policy deleted with its role), which the re-check
#: after the fix finds.
FIXABLE_RULES = frozenset(PLANNERS)


def make_plan(
    findings: Iterable[Finding],
    ctx: AuditContext,
    *,
    unowned: bool = False,
    min_idle_days: int = DEFAULT_MIN_IDLE_DAYS,
    now: datetime | None = None,
    retire_in_use: bool = False,
    grace_days: int = user_ops.DEFAULT_GRACE_DAYS,
    execution_trust: tuple[str, ...] = (),
) -> Plan:
    """The plan that fixes the failing findings of the fixable rules, from ``ctx.inventory``: each
    rule's planner (:data:`PLANNERS`) in turn, then the actions in the module docstring's order.
    ``unowned`` lets S3 rewrites change policies AIModelShare does not own. A legacy role whose
    ``RoleLastUsed`` is within ``min_idle_days`` of ``now`` (default: when the inventory was
    collected) is kept (:func:`recent_use`); its consumers are still re-pointed. So is an ephemeral
    user whose access key was used within them (:func:`recent_key_use`), unless ``retire_in_use``:
    then its keys are deactivated, and a run ``grace_days`` later deletes it (``users.decide``).
    ``execution_trust``: the principals that may assume the execution role
    (``--fix-execution-role-trust``)."""
    options = FixOptions(
        unowned=unowned,
        min_idle_days=min_idle_days,
        now=now or ctx.inventory.collected_at,
        retire_in_use=retire_in_use,
        grace_days=grace_days,
        execution_trust=execution_trust,
    )
    failing: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        if f.outcome is Outcome.FAIL and f.rule_id in PLANNERS:
            failing[f.rule_id].append(f.resource)
    draft = Draft(ctx, options, redeploys=_pending_redeploys(ctx.inventory))
    for rule_id, plan_rule in PLANNERS.items():
        plan_rule(rule_id, failing[rule_id], draft)
    return draft.plan()
