"""The principal-level analysis (``ams_iam_audit.analysis``), fast: inventories built in memory.

No moto server, no subprocess: each test builds an :class:`Inventory` from the frozen dataclasses of
``inventory/model.py`` and asks ``analyse(inventory).verdict(arn)``. ``make mutation`` judges
``analysis/permissions.py``, ``analysis/catalogue.py`` and ``analysis/escalation.py`` with these
(the moto-backed ``tests/test_escalation.py`` pins the same verdicts end to end, too slow per mutant).

Every catalogue method is found on a minimal principal with an administrator target; its near misses
(a Deny in another policy, the resource aimed elsewhere, a condition that certainly narrows, a
boundary) are not found by it; without targets it is latent; unread parts make the verdict unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ams_iam_audit.analysis import (
    ADMIN,
    CatalogueError,
    Method,
    Need,
    Permissions,
    Proof,
    SourcedDocument,
    Step,
    Verdict,
    analyse,
    methods,
)
from ams_iam_audit.analysis import catalogue as catalogue_module
from ams_iam_audit.analysis.escalation import EscalationAnalysis
from ams_iam_audit.analysis.permissions import permissions
from ams_iam_audit.inventory.model import (
    AttachedPolicy,
    Consumer,
    Group,
    InlinePolicy,
    Inventory,
    ManagedPolicy,
    PolicyVersion,
    Role,
    Section,
    User,
)
from ams_iam_audit.policy import parse_policy

ACCOUNT = "111122223333"
IAM = f"arn:aws:iam::{ACCOUNT}"
REGION = "us-east-1"
CONSUMER_KINDS = ("lambda", "codebuild", "ec2", "cloudformation", "glue", "sagemaker")


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


ADMIN_DOC = doc(allow("*"))
WEAK_DOC = doc(allow("s3:GetObject"))


def trust_doc(*, service: str | None = None, aws: str | None = None, effect: str = "Allow") -> dict[str, Any]:
    principal = {"Service": service} if service else {"AWS": aws}
    return doc({"Effect": effect, "Principal": principal, "Action": "sts:AssumeRole"})


@dataclass
class World:
    """An account in memory; names say what each resource is for."""

    users: list[User] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    policies: list[ManagedPolicy] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    sections: list[Section] = field(
        default_factory=lambda: [
            Section("iam", True),
            Section("consumers", True),
            *(Section(f"{k}:{REGION}", True) for k in CONSUMER_KINDS),
        ]
    )

    def policy(
        self, name: str, document: dict[str, Any] | None, *, older: dict[str, Any] | None = None, aws: bool = False
    ) -> str:
        arn = f"arn:aws:iam::aws:policy/{name}" if aws else f"{IAM}:policy/{name}"
        versions = []
        if older is not None:
            versions.append(PolicyVersion("v1", False, older))
        if document is not None:
            versions.append(PolicyVersion("v2", True, document))
        self.policies.append(ManagedPolicy(name, arn, "/", aws, "v2", 1, tuple(versions)))
        return arn

    def user(
        self,
        name: str,
        *statements: dict[str, Any],
        groups: tuple[str, ...] = (),
        attached: tuple[str, ...] = (),
        boundary: str | None = None,
        password: bool | None = None,
        inline: dict[str, Any] | None = None,
    ) -> str:
        arn = f"{IAM}:user/{name}"
        self.users.append(
            User(
                name,
                arn,
                "/",
                None,
                groups,
                _inline(statements, inline),
                _attached(attached),
                (),
                password_enabled=password,
                permissions_boundary=boundary,
            )
        )
        return arn

    def role(
        self,
        name: str,
        trust: dict[str, Any],
        *statements: dict[str, Any],
        attached: tuple[str, ...] = (),
        boundary: str | None = None,
        profiles: tuple[str, ...] = (),
    ) -> str:
        arn = f"{IAM}:role/{name}"
        self.roles.append(
            Role(
                name,
                arn,
                "/",
                None,
                trust,
                _inline(statements, None),
                _attached(attached),
                permissions_boundary=boundary,
                instance_profiles=profiles,
            )
        )
        return arn

    def group(self, name: str, *statements: dict[str, Any], attached: tuple[str, ...] = ()) -> str:
        arn = f"{IAM}:group/{name}"
        self.groups.append(Group(name, arn, _inline(statements, None), _attached(attached)))
        return arn

    def consumer(self, kind: str, name: str, role_arn: str) -> str:
        arn = f"arn:aws:{kind}:{REGION}:{ACCOUNT}:thing/{name}"
        self.consumers.append(Consumer(kind, REGION, name, arn, role_arn))
        return arn

    def unreadable(self, name: str) -> None:
        self.sections = [s for s in self.sections if s.name != name] + [
            Section(name, False, permission="x:Describe", error="AccessDenied")
        ]

    def inventory(self) -> Inventory:
        return Inventory(
            account_id=ACCOUNT,
            partition="aws",
            collected_at=datetime(2026, 12, 2, tzinfo=UTC),
            caller_arn=None,
            regions=(REGION,),
            sections=tuple(self.sections),
            users=tuple(self.users),
            groups=tuple(self.groups),
            roles=tuple(self.roles),
            policies=tuple(self.policies),
            consumers=tuple(self.consumers),
        )

    def verdict(self, arn: str) -> Verdict:
        return analyse(self.inventory()).verdict(arn)


def _inline(statements: tuple[dict[str, Any], ...], document: dict[str, Any] | None) -> tuple[InlinePolicy, ...]:
    if document is not None:
        return (InlinePolicy("grants", document),)
    return (InlinePolicy("grants", doc(*statements)),) if statements else ()


def _attached(arns: tuple[str, ...]) -> tuple[AttachedPolicy, ...]:
    return tuple(AttachedPolicy(a.rsplit("/", 1)[-1], a) for a in arns)


def named(verdict: Verdict) -> list[str]:
    """Every method a verdict names (on its path and as latent)."""
    return [s.method.id for s in verdict.path if s.method is not None] + [m.id for m, _ in verdict.latent]


def method(method_id: str) -> Method:
    return next(m for m in methods() if m.id == method_id)


# ---- the catalogue account, in memory -------------------------------------------------------------------


def targets(world: World) -> dict[str, str]:
    """One administrator target of every kind, trusted by nobody the principals are."""
    admin = world.policy("admin-all", ADMIN_DOC)
    out: dict[str, str] = {}
    services = sorted({m.service for m in methods() if m.service and m.target == "role_for_service"})
    for service in services:
        short = service.split(".")[0]
        out[short] = world.role(f"admin-for-{short}", trust_doc(service=service), attached=(admin,))
    out["ec2"] = world.role(
        "admin-for-ec2",
        trust_doc(service="ec2.amazonaws.com"),
        attached=(admin,),
        profiles=(f"{IAM}:instance-profile/admin-profile",),
    )
    world.role("admin-any", trust_doc(aws=f"{IAM}:user/nobody"), attached=(admin,))
    world.user("admin-user", attached=(admin,))
    world.group("admins", attached=(admin,))
    world.consumer("lambda", "privileged-fn", out["lambda"])
    world.consumer("codebuild", "privileged-project", out["codebuild"])
    world.consumer("ec2", "i-0123456789", out["ec2"])
    world.consumer("cloudformation", "privileged-stack", out["cloudformation"])
    world.consumer("glue", "privileged-endpoint", out["glue"])
    world.consumer("sagemaker", "privileged-notebook", out["sagemaker"])
    return out


_NEW = {"iam-create-role-and-assume": f"{IAM}:role/new-*"}
_SELF_REMOVAL = [
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
]


def grants_for(m: Method, *, on_target: str = "*", condition: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = []
    for need in m.needs:
        statement = allow(need.actions[0], on_target if need.on_target else _NEW.get(m.id, "*"))
        if condition is not None and need.actions[0] in condition:
            statement["Condition"] = condition[need.actions[0]]
        out.append(statement)
    if m.gains == "unbounded":
        out.append(allow("*"))
    return out


def principal(
    world: World,
    name: str,
    m: Method,
    statements: list[dict[str, Any]],
    *,
    boundary: str | None = None,
    trust_account: bool = False,
) -> str:
    """A principal of the method's kind holding ``statements``, with what its own target needs."""
    kind = m.principal_kind or "user"
    document = doc(*statements)
    attached: tuple[str, ...] = ()
    inline: tuple[dict[str, Any], ...] = tuple(statements)
    if m.target in ("own_policy", "own_policy_with_admin_version"):
        versioned = m.target.endswith("version")
        attached = (world.policy(f"{name}-own", document, older=ADMIN_DOC if versioned else None),)
        inline = ()
    if kind == "role":
        arn = world.role(name, trust_doc(service="ec2.amazonaws.com"), *inline, attached=attached, boundary=boundary)
    else:
        group = (f"{name}-group",) if m.target == "own_group" else ()
        if group:
            world.group(group[0])
        arn = world.user(name, *inline, attached=attached, boundary=boundary, groups=group)
    if m.target == "assumable_role":
        trusted = f"arn:aws:iam::{ACCOUNT}:root" if trust_account else arn
        attach = (world.policy("admin-for-target", ADMIN_DOC),) if m.id == "sts-assume-role" else ()
        world.role(f"{name}-target", trust_doc(aws=trusted), attached=attach)
    return arn


def _other_service(m: Method) -> str:
    return "glue.amazonaws.com" if m.service != "glue.amazonaws.com" else "states.amazonaws.com"


def _narrowing(m: Method, harmless: str) -> dict[str, Any] | None:
    """A condition that certainly excludes what the method needs, where the catalogue names one."""
    if m.service is not None:
        return {"iam:passrole": {"StringEquals": {"iam:PassedToService": _other_service(m)}}}
    keyed = [a for a, key in m.narrowed_by if key == "iam:policyarn"]
    if keyed:
        return {a: {"ArnEquals": {"iam:PolicyARN": harmless}} for a in keyed}
    return None


def _held_by(statements: list[dict[str, Any]], m: Method) -> tuple[str, ...]:
    """Other methods whose every action ``statements`` name (allowed, not denied)."""

    def listed(effect: str) -> set[str]:
        return {a.lower() for s in statements if s["Effect"] == effect for a in _as_list(s["Action"])}

    held = listed("Allow") - listed("Deny")
    every = "*" in held
    return tuple(
        o.id for o in methods() if o.id != m.id and all(every or any(a in held for a in n.actions) for n in o.needs)
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _case(m: Method, shape: str) -> tuple[World, str, list[str]] | None:
    """The world for one method and one shape (``found`` or a near miss); ``None`` when it does not apply."""
    world = World()
    targets(world)
    harmless = world.policy("harmless-read", WEAK_DOC)
    name = f"{shape}-{m.id}"
    boundary = None
    if m.gains == "unbounded":
        boundary = world.policy("boundary-self-removal", doc(allow(_SELF_REMOVAL)))
    statements = grants_for(m)
    trust_account = False
    if shape == "deny":
        statements = [*statements, deny(list(m.needs[0].actions))]
    elif shape == "aside":
        if not any(n.on_target for n in m.needs) or m.target == "self":
            return None
        statements = grants_for(m, on_target=f"{IAM}:role/no-such-target")
        trust_account = True
    elif shape == "condition":
        condition = _narrowing(m, harmless)
        if condition is None:
            return None
        statements = grants_for(m, condition=condition)
    elif shape == "boundary":
        if m.id == "sts-assume-role" and m.principal_kind != "role":
            # AWS honours a trust policy naming a user whatever the user's boundary: no near miss
            return None
        boundary = world.policy("boundary-s3-read", WEAK_DOC)
    arn = principal(world, name, m, statements, boundary=boundary, trust_account=trust_account)
    others = list(_held_by(statements, m)) if shape != "found" else []
    return world, arn, others


@pytest.mark.parametrize("m", methods(), ids=lambda m: m.id)
def test_every_catalogue_method_is_found_on_a_minimal_principal_with_an_administrator_target(m: Method) -> None:
    case = _case(m, "found")
    assert case is not None
    world, arn, _ = case
    verdict = world.verdict(arn)
    assert verdict.kind == "path", verdict.evidence()
    assert m.id in named(verdict), verdict.evidence()
    assert verdict.path[-1].target == ADMIN
    assert verdict.path[0].source == ("role/" if m.principal_kind == "role" else "user/") + f"found-{m.id}"


@pytest.mark.parametrize("shape", ["deny", "aside", "condition", "boundary"])
@pytest.mark.parametrize("m", methods(), ids=lambda m: m.id)
def test_a_near_miss_is_never_found_by_its_method(m: Method, shape: str) -> None:
    case = _case(m, shape)
    if case is None:
        pytest.skip(f"no {shape} near miss for {m.id}")
    world, arn, others = case
    verdict = world.verdict(arn)
    assert m.id not in named(verdict), verdict.evidence()
    if not others:
        assert verdict.kind == "none", verdict.evidence()


@pytest.mark.parametrize("m", [m for m in methods() if m.target != "self"], ids=lambda m: m.id)
def test_a_method_without_any_target_is_latent(m: Method) -> None:
    world = World()
    # a user holding a method aimed at other users is a target of it itself (gaining nothing): a role holds it
    kind = m.principal_kind or ("role" if m.target.startswith("other_user") else "user")
    statements = grants_for(m)
    if kind == "role":
        arn = world.role("holder", trust_doc(service="ec2.amazonaws.com"), *statements)
    else:
        arn = world.user("holder", *statements)
    if m.target in ("own_policy", "own_policy_with_admin_version", "own_group"):
        pytest.skip("the principal's own policy or group is always there")
    verdict = world.verdict(arn)
    assert verdict.kind == "latent", verdict.evidence()
    assert m.id in named(verdict)
    (latent,) = [(lm, proofs) for lm, proofs in verdict.latent if lm.id == m.id]
    assert [p.action for p in latent[1]] == [n.actions[0] for n in m.needs]
    assert verdict.evidence()["latent"][0]["granted_by"]


# ---- effective permissions ------------------------------------------------------------------------------


def perms(*documents: dict[str, Any], boundary: list[dict[str, Any]] | None = None) -> Permissions:
    docs = [SourcedDocument(f"policy/p{i}", parse_policy(d)) for i, d in enumerate(documents)]
    bound = [SourcedDocument("boundary", parse_policy(d)) for d in boundary] if boundary is not None else None
    return permissions(docs, bound)


def not_resource(effect: str, action: Any, resource: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "NotResource": resource}


ROLE_X = f"{IAM}:role/x"
ROLE_Y = f"{IAM}:role/y"

# documents, action, resource, allowed?  (each row is one behaviour the verdicts rely on)
ALLOWS: list[tuple[str, list[dict[str, Any]], str, str, bool]] = [
    ("plain allow", [doc(allow("iam:PassRole"))], "iam:passrole", ROLE_X, True),
    ("action is case-insensitive", [doc(allow("iam:PassRole"))], "IAM:PassRole", ROLE_X, True),
    ("other action", [doc(allow("iam:PassRole"))], "iam:createrole", ROLE_X, False),
    ("resource elsewhere", [doc(allow("iam:PassRole", ROLE_Y))], "iam:passrole", ROLE_X, False),
    ("resource glob covers", [doc(allow("iam:PassRole", f"{IAM}:role/*"))], "iam:passrole", ROLE_X, True),
    ("some resource: a named one serves", [doc(allow("iam:PassRole", ROLE_Y))], "iam:passrole", "*", True),
    ("NotResource excludes it", [doc(not_resource("Allow", "iam:PassRole", ROLE_X))], "iam:passrole", ROLE_X, False),
    (
        "NotResource leaves others",
        [doc(not_resource("Allow", "iam:PassRole", ROLE_Y))],
        "iam:passrole",
        ROLE_X,
        True,
    ),
    ("Deny in another policy", [doc(allow("iam:*")), doc(deny("iam:PassRole"))], "iam:passrole", ROLE_X, False),
    ("Deny on that resource", [doc(allow("iam:*")), doc(deny("iam:PassRole", ROLE_X))], "iam:passrole", ROLE_X, False),
    (
        "Deny on another resource",
        [doc(allow("iam:*")), doc(deny("iam:PassRole", ROLE_Y))],
        "iam:passrole",
        ROLE_X,
        True,
    ),
    (
        "Deny of one resource leaves some",
        [doc(allow("iam:*")), doc(deny("iam:PassRole", ROLE_X))],
        "iam:passrole",
        "*",
        True,
    ),
    ("Deny of every resource", [doc(allow("iam:*")), doc(deny("iam:PassRole"))], "iam:passrole", "*", False),
    (
        "conditional Deny removes nothing",
        [doc(allow("iam:*")), doc(deny("iam:PassRole", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}))],
        "iam:passrole",
        ROLE_X,
        True,
    ),
    (
        "Deny with NotResource is not certain",
        [doc(allow("iam:*")), doc(not_resource("Deny", "iam:PassRole", ROLE_Y))],
        "iam:passrole",
        ROLE_X,
        True,
    ),
    ("Deny of another action", [doc(allow("iam:*")), doc(deny("iam:CreateRole"))], "iam:passrole", ROLE_X, True),
    ("one of several resources", [doc(allow("iam:PassRole", [ROLE_Y, ROLE_X]))], "iam:passrole", ROLE_X, True),
    (
        "one of several NotResources excludes it",
        [doc(not_resource("Allow", "iam:PassRole", [ROLE_Y, ROLE_X]))],
        "iam:passrole",
        ROLE_X,
        False,
    ),
    (
        "Deny of one of several resources",
        [doc(allow("iam:*")), doc(deny("iam:PassRole", [ROLE_Y, ROLE_X]))],
        "iam:passrole",
        ROLE_X,
        False,
    ),
]


@pytest.mark.parametrize(
    ("documents", "action", "resource", "allowed"), [r[1:] for r in ALLOWS], ids=[r[0] for r in ALLOWS]
)
def test_permissions_allows(documents: list[dict[str, Any]], action: str, resource: str, allowed: bool) -> None:
    proof = perms(*documents).allows(action, resource)
    assert (proof is not None) == allowed
    if proof is not None:
        assert proof == Proof("policy/p0", 0, action.lower(), resource, False)


def test_denied_names_the_policy_whose_deny_covers_the_action() -> None:
    p = perms(doc(allow("iam:*")), doc(allow("s3:*")), doc(deny("iam:PassRole", ROLE_X), deny("iam:CreateRole")))
    assert p.denied("iam:passrole", ROLE_X) == "policy/p2"
    assert p.denied("iam:createrole", ROLE_Y) == "policy/p2"
    assert p.denied("iam:passrole", ROLE_Y) is None
    assert p.denied("s3:getobject", "*") is None


def test_the_first_allowing_statement_is_the_proof_and_records_its_condition() -> None:
    conditional = allow("iam:PassRole", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})
    p = perms(doc(allow("s3:GetObject"), conditional), doc(allow("iam:PassRole")))
    proof = p.allows("iam:passrole", ROLE_X)
    assert proof == Proof("policy/p0", 1, "iam:passrole", ROLE_X, True)
    assert proof.describe() == {
        "policy": "policy/p0",
        "statement_index": 1,
        "action": "iam:passrole",
        "resource": ROLE_X,
        "conditional": True,
    }
    assert "conditional" not in Proof("policy/p1", 0, "iam:passrole", ROLE_X, False).describe()


def test_a_statement_the_filter_refuses_is_skipped_for_the_next_one() -> None:
    p = perms(
        doc(allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}})),
        doc(allow("iam:PassRole")),
    )
    proof = p.allows("iam:passrole", ROLE_X, lambda s: not s.conditions)
    assert proof is not None
    assert proof.policy == "policy/p1"
    assert (
        perms(doc(allow("iam:PassRole", Condition={"Bool": {"aws:SecureTransport": "true"}}))).allows(
            "iam:passrole", ROLE_X, lambda s: not s.conditions
        )
        is None
    )


@pytest.mark.parametrize(
    ("boundary", "allowed"),
    [
        ([doc(allow("s3:GetObject"))], False),  # the boundary allows none of it
        ([doc(allow("iam:PassRole"))], True),  # an action both allow
        ([doc(allow("iam:PassRole", ROLE_Y))], False),  # the boundary allows it elsewhere only
        ([doc(allow("iam:*")), doc(deny("iam:PassRole"))], False),  # a boundary Deny
        ([doc(allow("iam:PassRole", Condition={"Bool": {"aws:SecureTransport": "true"}}))], True),  # uncertain: allowed
        ([], False),  # an empty boundary allows nothing
    ],
)
def test_a_boundary_intersects(boundary: list[dict[str, Any]], allowed: bool) -> None:
    p = perms(doc(allow("iam:*")), boundary=boundary)
    proof = p.allows("iam:passrole", ROLE_X)
    assert (proof is not None) == allowed
    if proof is not None:
        assert proof.policy == "policy/p0"  # the identity statement is the proof, not the boundary's
    assert p.unbounded().boundary is None
    assert p.unbounded().allows("iam:passrole", ROLE_X) is not None
    assert p.unbounded().documents == p.documents


def test_without_a_boundary_unbounded_is_itself() -> None:
    p = perms(doc(allow("iam:*")))
    assert p.unbounded() is p
    asked = frozenset({"iam:passrole", "iam:createrole", "s3:getobject"})
    assert p.named(asked) == {"iam:passrole", "iam:createrole"}
    both = perms(doc(allow("s3:GetObject")), doc(allow("iam:PassRole")))
    assert both.named(asked | {"ec2:runinstances"}) == {"s3:getobject", "iam:passrole"}
    assert both.named(frozenset()) == frozenset()


_PROBES = [
    "iam:AttachUserPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
]

# documents, boundary, administrator?
ADMINISTRATOR: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]] | None, bool]] = [
    ("every action on every resource", [ADMIN_DOC], None, True),
    ("every IAM action on every resource", [doc(allow("iam:*"))], None, True),
    ("IAM actions on roles only", [doc(allow("iam:*", f"{IAM}:role/*"))], None, False),
    ("every S3 action", [doc(allow("s3:*"))], None, False),
    ("some IAM actions", [doc(allow(["iam:PassRole", "iam:CreateRole"]))], None, False),
    ("every probe denied", [ADMIN_DOC, doc(deny(_PROBES))], None, False),
    ("one probe left", [ADMIN_DOC, doc(deny(_PROBES[1:]))], None, True),
    ("another one probe left", [ADMIN_DOC, doc(deny(_PROBES[:-1]))], None, True),
    ("probes denied on one resource only", [ADMIN_DOC, doc(deny(_PROBES, ROLE_X))], None, True),
    (
        "conditional Deny of every probe",
        [ADMIN_DOC, doc(deny(_PROBES, Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}))],
        None,
        True,
    ),
    ("a boundary that is administrator", [ADMIN_DOC], [ADMIN_DOC], True),
    ("a boundary that is not", [ADMIN_DOC], [doc(allow("s3:*"))], False),
    ("NotResource: every resource but a few", [doc(not_resource("Allow", "*", ROLE_X))], None, True),
]


@pytest.mark.parametrize(
    ("documents", "boundary", "expected"), [r[1:] for r in ADMINISTRATOR], ids=[r[0] for r in ADMINISTRATOR]
)
def test_administrator(documents: list[dict[str, Any]], boundary: list[dict[str, Any]] | None, expected: bool) -> None:
    proof = perms(*documents, boundary=boundary).administrator
    assert (proof is not None) == expected
    if proof is not None:
        assert (proof.policy, proof.action, proof.resource) == ("policy/p0", "iam:*", "*")


def test_administrator_proof_is_the_first_admin_statement_and_records_its_condition() -> None:
    conditional = allow("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    proof = perms(doc(allow("s3:GetObject"), conditional)).administrator
    assert proof == Proof("policy/p0", 1, "iam:*", "*", True)
    # one admin statement with every probe gone, another left: the next one is judged
    p = perms(doc(allow("s3:*")), doc(allow("iam:*")))
    assert p.administrator == Proof("policy/p1", 0, "iam:*", "*", False)


# ---- the catalogue ----------------------------------------------------------------------------------------


def _raw(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "x",
        "title": "X",
        "source": "here",
        "target": "any_role",
        "needs": [["iam:UpdateAssumeRolePolicy"]],
        "gains": "target",
    }
    return {**base, **overrides}


def test_a_catalogue_entry_becomes_a_method() -> None:
    m = catalogue_module._method(
        _raw(
            target="self",
            needs=[[" IAM:CreateRole ", "new"], ["iam:AttachRolePolicy|iam:PutRolePolicy", "new"], ["sts:AssumeRole"]],
            narrowed_by={"iam:CreateRole": "iam:PermissionsBoundary", "iam:AttachRolePolicy": "iam:PolicyARN"},
            gains="admin",
            principal_kind="role",
        )
    )
    assert m.needs == (
        Need(("iam:createrole",), False),
        Need(("iam:attachrolepolicy", "iam:putrolepolicy"), False),
        Need(("sts:assumerole",), True),
    )
    assert m.narrowed_by == (("iam:attachrolepolicy", "iam:policyarn"), ("iam:createrole", "iam:permissionsboundary"))
    assert m.narrowing_key("iam:createrole") == "iam:permissionsboundary"
    assert m.narrowing_key("sts:assumerole") is None
    assert (m.id, m.title, m.source, m.target, m.gains, m.principal_kind, m.service) == (
        "x", "X", "here", "self", "admin", "role", None
    )  # fmt: skip
    assert m.needs[1].describe() == "iam:attachrolepolicy or iam:putrolepolicy (on a new resource)"
    assert m.needs[2].describe() == "sts:assumerole"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw(needs=[["iam:NoSuchAction"]]), "iam:nosuchaction is not an action"),
        (_raw(needs=[["iam:PassRole|iam:NoSuchAction"]]), "iam:nosuchaction is not an action"),
        (_raw(target="nowhere"), "unknown target 'nowhere'"),
        (_raw(gains="everything"), "unknown gain 'everything'"),
        (_raw(target="role_for_service", needs=[["iam:PassRole"]]), "needs the service"),
    ],
)
def test_a_bad_catalogue_entry_is_refused_by_name(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as error:
        catalogue_module._method(raw)
    assert "escalation method 'x'" in str(error.value)


def test_a_role_for_service_entry_with_its_service_is_accepted() -> None:
    m = catalogue_module._method(_raw(target="role_for_ec2", service="ec2.amazonaws.com", needs=[["iam:PassRole"]]))
    assert m.service == "ec2.amazonaws.com"


class _Files:
    def __init__(self, text: str) -> None:
        self.text = text

    def joinpath(self, path: str) -> _Files:
        assert path == "data/escalation_methods.json"
        return self

    def read_text(self) -> str:
        return self.text


def test_duplicate_method_ids_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = catalogue_module.methods.__wrapped__
    monkeypatch.setattr(catalogue_module, "files", lambda _: _Files(json.dumps({"methods": [_raw(), _raw()]})))
    with pytest.raises(CatalogueError, match="duplicate"):
        loader()
    monkeypatch.setattr(catalogue_module, "files", lambda _: _Files(json.dumps({"methods": [_raw(), _raw(id="y")]})))
    assert [m.id for m in loader()] == ["x", "y"]


def test_the_shipped_catalogue_loads_with_every_target_kind_known() -> None:
    loaded = methods()
    assert len(loaded) == len({m.id for m in loaded}) >= 40
    assert {m.target for m in loaded} <= catalogue_module.TARGETS
    assert method("ec2-run-instances-pass-role").needs[1] == Need(("ec2:runinstances",), False)
    assert method("iam-attach-user-policy").narrowing_key("iam:attachuserpolicy") == "iam:policyarn"


def test_resource_targets_are_one_table_whose_patterns_match_real_arns() -> None:
    """RESOURCE_TARGETS is the one home of which inventory section holds each resource target and
    what its ARNs look like: the analysis's pattern for every such target matches an ARN as AWS
    gives it (a pattern that matched nothing would make every method on that kind look unheld)."""
    from fnmatch import fnmatchcase

    from ams_iam_audit.analysis.catalogue import IAM_TARGETS, RESOURCE_TARGETS

    assert {"self", *IAM_TARGETS, *RESOURCE_TARGETS} == catalogue_module.TARGETS
    assert not IAM_TARGETS.keys() & RESOURCE_TARGETS.keys()
    real = {  # ARNs as AWS writes them (the service's ARN format)
        "function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:predict",
        "project": f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/build",
        "instance": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0",
        "stack": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/models/0a1b2c3d-1111-2222-3333-444455556666",
        "dev_endpoint": f"arn:aws:glue:{REGION}:{ACCOUNT}:devEndpoint/dev",
        "notebook": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/lab",
    }
    assert real.keys() == RESOURCE_TARGETS.keys()
    world = World()
    analysis = analyse(world.inventory())
    for kind, arn in real.items():
        method = next(m for m in methods() if m.target == kind)
        patterns = analysis._every_target(method, None)
        assert any(fnmatchcase(arn, pattern) for pattern in patterns), (kind, patterns)


# ---- verdicts: administrator, multi-hop paths, loops, evidence ---------------------------------------------


def test_an_administrator_holds_it_in_one_step_with_its_proof() -> None:
    world = World()
    admin = world.policy("AdministratorAccess", ADMIN_DOC, aws=True)
    arn = world.user("boss", attached=(admin,))
    verdict = world.verdict(arn)
    assert verdict.kind == "administrator"
    (step,) = verdict.path
    assert step == Step("user/boss", None, (Proof("policy/AdministratorAccess", 0, "iam:*", "*", False),), ADMIN)
    assert verdict.evidence() == {
        "verdict": "administrator",
        "path": [
            {
                "from": "user/boss",
                "to": ADMIN,
                "method": "holds administrator access",
                "granted_by": [
                    {"policy": "policy/AdministratorAccess", "statement_index": 0, "action": "iam:*", "resource": "*"}
                ],
            }
        ],
        "hops": 0,
    }


def test_a_user_is_administrator_through_its_group() -> None:
    world = World()
    world.group("admins", allow("*"))
    arn = world.user("member", groups=("admins",))
    verdict = world.verdict(arn)
    assert verdict.kind == "administrator"
    assert verdict.path[0].proofs[0].policy == "group/admins/inline/grants"


def test_a_multi_hop_path_is_shortest_and_in_order() -> None:
    """user -> (assume) role a -> (pass role b to Lambda) role b -> administrator."""
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    b = world.role("b", trust_doc(service="lambda.amazonaws.com"), attached=(admin,))
    a = world.role("a", trust_doc(aws=f"{IAM}:user/start"), *grants_for(method("lambda-create-invoke-pass-role")))
    start = world.user("start", allow("sts:AssumeRole", a))
    verdict = world.verdict(start)
    assert verdict.kind == "path"
    assert [(s.source, s.method and s.method.id, s.target) for s in verdict.path] == [
        ("user/start", "sts-assume-role", "role/a"),
        ("role/a", "lambda-create-invoke-pass-role", "role/b"),
        ("role/b", None, ADMIN),
    ]
    evidence = verdict.evidence()
    assert evidence["hops"] == 2
    assert evidence["path"][0]["method"] == "sts-assume-role"
    assert evidence["path"][0]["title"] == method("sts-assume-role").title
    assert evidence["path"][0]["source"] == method("sts-assume-role").source
    assert evidence["path"][0]["detail"] == "its trust policy names the principal"
    assert evidence["path"][0]["granted_by"][0]["policy"] == "role/a trust policy"  # the trust names it
    assert "detail" not in evidence["path"][2]
    assert world.verdict(a).kind == "path"
    assert len(world.verdict(a).path) == 2
    assert world.verdict(b).kind == "administrator"


def test_a_trust_naming_the_principal_is_the_proof_of_assuming() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("target", trust_doc(aws=f"{IAM}:user/u"), attached=(admin,))
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert verdict.kind == "path", verdict.evidence()
    assert verdict.path[0].proofs == (
        Proof("role/target trust policy", 0, "sts:assumerole", f"{IAM}:role/target", False),
    )


def test_a_trust_naming_the_principal_needs_no_identity_grant() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("target", trust_doc(aws=f"{IAM}:user/u"), attached=(admin,))
    arn = world.user("u", allow("s3:GetObject"))
    verdict = world.verdict(arn)
    assert verdict.kind == "path", verdict.evidence()


def test_a_trust_naming_the_principal_is_honoured_for_a_user_whatever_its_boundary() -> None:
    """Within an account, what a resource policy grants to a user's ARN is not limited by the user's
    boundary; an explicit Deny of its own still is."""
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    weak = world.policy("boundary-s3-read", WEAK_DOC)
    world.role("target", trust_doc(aws=f"{IAM}:user/bounded"), attached=(admin,))
    world.role("target-2", trust_doc(aws=f"{IAM}:user/denied"), attached=(admin,))
    bounded = world.user("bounded", allow("s3:GetObject"), boundary=weak)
    denied = world.user("denied", allow("s3:GetObject"), deny("sts:AssumeRole"))
    assert [s.target for s in world.verdict(bounded).path] == ["role/target", ADMIN]
    assert world.verdict(denied).kind == "none"


def test_an_explicit_deny_in_a_users_boundary_blocks_a_trust_naming_it() -> None:
    """A boundary does not limit what a trust policy grants to a user's ARN, but an explicit Deny in
    it does, as in any policy AWS evaluates."""
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    denying = world.policy("boundary-deny-assume", doc(allow("*"), deny("sts:AssumeRole")))
    world.role("target", trust_doc(aws=f"{IAM}:user/u"), attached=(admin,))
    arn = world.user("u", allow("s3:GetObject"), boundary=denying)
    assert world.verdict(arn).kind == "none", world.verdict(arn).evidence()


def test_a_trust_naming_a_role_is_limited_by_that_roles_boundary() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    weak = world.policy("boundary-s3-read", WEAK_DOC)
    lets_assume = world.policy("boundary-assume", doc(allow("sts:AssumeRole")))
    world.role("target", trust_doc(aws=f"{IAM}:role/cut"), attached=(admin,))
    world.role("target-2", trust_doc(aws=f"{IAM}:role/allowed"), attached=(admin,))
    cut = world.role("cut", trust_doc(service="ec2.amazonaws.com"), allow("s3:GetObject"), boundary=weak)
    allowed = world.role("allowed", trust_doc(service="ec2.amazonaws.com"), allow("s3:GetObject"), boundary=lets_assume)
    assert world.verdict(cut).kind == "none"
    assert [s.target for s in world.verdict(allowed).path] == ["role/target-2", ADMIN]


def test_actions_on_new_resources_are_judged_on_any_resource_not_on_the_target() -> None:
    """A method's actions on resources it creates (an instance, a function) are granted on their own
    ARNs, not on the role it passes: a grant limited to instances still serves."""
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("admin-for-ec2", trust_doc(service="ec2.amazonaws.com"), attached=(admin,), profiles=("p",))
    arn = world.user(
        "launcher",
        allow("iam:PassRole"),
        allow("ec2:RunInstances", "arn:aws:ec2:*:*:instance/*"),
    )
    verdict = world.verdict(arn)
    assert verdict.kind == "path", verdict.evidence()
    assert verdict.path[0].method is not None
    assert verdict.path[0].method.id == "ec2-run-instances-pass-role"


def test_a_role_it_may_rewrite_but_not_assume_is_no_way_up() -> None:
    """Attaching a policy to a role that trusts the principal leads nowhere when an explicit Deny of
    sts:AssumeRole keeps it from assuming the role."""
    world = World()
    world.role("weak", trust_doc(aws=f"{IAM}:user/u"), allow("s3:GetObject"))
    arn = world.user("u", allow("iam:AttachRolePolicy"), deny("sts:AssumeRole"))
    assert world.verdict(arn).kind != "path"
    free = World()
    free.role("weak", trust_doc(aws=f"{IAM}:user/u"), allow("s3:GetObject"))
    assert free.verdict(free.user("u", allow("iam:AttachRolePolicy"))).kind == "path"


def test_a_chain_of_three_assumed_roles_is_found_in_order() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    user = world.user("dev", allow("s3:GetObject"))
    first = world.role("hop-1", trust_doc(aws=user), allow("s3:GetObject"))
    second = world.role("hop-2", trust_doc(aws=first), allow("s3:GetObject"))
    world.role("hop-3", trust_doc(aws=second), attached=(admin,))
    verdict = world.verdict(user)
    assert [(s.source, s.target) for s in verdict.path] == [
        ("user/dev", "role/hop-1"),
        ("role/hop-1", "role/hop-2"),
        ("role/hop-2", "role/hop-3"),
        ("role/hop-3", ADMIN),
    ]
    assert [s.method.id if s.method else None for s in verdict.path] == [
        "sts-assume-role",
        "sts-assume-role",
        "sts-assume-role",
        None,
    ]


def test_a_trust_naming_the_account_needs_an_identity_grant() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    target = world.role("target", trust_doc(aws=ACCOUNT), attached=(admin,))
    without = world.user("without", allow("s3:GetObject"))
    with_grant = world.user("with", allow("sts:AssumeRole", target))
    elsewhere = world.user("elsewhere", allow("sts:AssumeRole", f"{IAM}:role/other"))
    inventory = world.inventory()
    assert analyse(inventory).verdict(without).kind == "none"
    assert analyse(inventory).verdict(elsewhere).kind == "none"
    verdict = analyse(inventory).verdict(with_grant)
    assert verdict.kind == "path"
    assert verdict.path[0].detail == "its trust policy names the account"
    assert verdict.path[0].proofs[0].policy == "user/with/inline/grants"


def test_a_role_that_cannot_reach_administrator_is_no_way_up_and_hides_nothing() -> None:
    """Assuming a role that can do nothing towards administrator is no step: the holder's own
    latent method is still reported."""
    world = World()
    weak = world.role("weak", trust_doc(aws=ACCOUNT), allow("s3:GetObject"))
    arn = world.user("u", allow("sts:AssumeRole", weak), allow("lambda:UpdateFunctionCode"))
    verdict = world.verdict(arn)
    assert verdict.kind == "latent", verdict.evidence()
    assert [m.id for m, _ in verdict.latent] == ["lambda-update-function-code"]
    assert world.verdict(weak).kind == "none"


@pytest.mark.parametrize(
    "trusted", [f"arn:aws:iam::{ACCOUNT}:root", "*", ACCOUNT], ids=["root", "everyone", "account-id"]
)
def test_every_way_of_naming_the_account_in_a_trust_policy(trusted: str) -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    target = world.role("target", trust_doc(aws=trusted), attached=(admin,))
    arn = world.user("u", allow("sts:AssumeRole", target))
    assert world.verdict(arn).kind == "path"


def test_an_unconditional_trust_deny_of_the_principal_or_everyone_blocks_assuming() -> None:
    for denied, blocked in [(f"{IAM}:user/u", True), ("*", True), (f"{IAM}:user/other", False)]:
        world = World()
        admin = world.policy("admin-all", ADMIN_DOC)
        trust = doc(
            {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:user/u"}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": {"AWS": denied}, "Action": "sts:AssumeRole"},
        )
        world.role("target", trust, attached=(admin,))
        arn = world.user("u", allow("sts:AssumeRole"))
        assert (world.verdict(arn).kind == "latent") == blocked, denied  # blocked: no role lets it in
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    conditional = {
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
    }
    other_action = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:TagSession"}
    allowing = {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:user/u"}, "Action": "sts:AssumeRole"}
    world.role("target", doc(conditional, other_action, allowing), attached=(admin,))
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert verdict.kind == "path"  # a conditional Deny, or a Deny of another action, blocks nothing
    assert verdict.path[0].proofs[0].statement_index == 2


def test_a_trust_that_denies_or_names_another_action_is_no_way_in() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("denying", trust_doc(aws=f"{IAM}:user/u", effect="Deny"), attached=(admin,))
    tagging = {"Effect": "Allow", "Principal": {"AWS": f"{IAM}:user/u"}, "Action": "sts:TagSession"}
    world.role("tagging", doc(tagging), attached=(admin,))
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert verdict.kind == "latent"  # it holds sts:AssumeRole; no role lets it in
    assert named(verdict) == ["sts-assume-role"]


def test_a_trust_loop_ends_and_reaches_nothing() -> None:
    world = World()
    a = world.role("a", trust_doc(aws=f"{IAM}:role/b"), allow("sts:AssumeRole"))
    b = world.role("b", trust_doc(aws=f"{IAM}:role/a"), allow("sts:AssumeRole"))
    self_trusting = world.role("c", trust_doc(aws=f"{IAM}:role/c"), allow("sts:AssumeRole"))
    inventory = world.inventory()
    assert analyse(inventory).verdict(a).kind == "none"
    assert analyse(inventory).verdict(b).kind == "none"
    assert analyse(inventory).verdict(self_trusting).kind == "latent"  # trusting itself is no target
    graph = analyse(inventory).graph
    # edges lead only towards what reaches administrator: a loop that reaches nothing leaves none
    assert not graph.has_edge(a, b)
    assert not graph.has_edge(b, a)
    assert not graph.has_edge(self_trusting, self_trusting)


def test_a_trust_loop_with_an_exit_to_administrator() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    a = world.role("a", trust_doc(aws=f"{IAM}:role/b"), allow("sts:AssumeRole"))
    world.role("b", trust_doc(aws=f"{IAM}:role/a"), allow("sts:AssumeRole"))
    world.role("c", trust_doc(aws=f"{IAM}:role/b"), attached=(admin,))
    verdict = world.verdict(a)
    assert [s.target for s in verdict.path] == ["role/b", "role/c", ADMIN]


def test_principals_with_the_same_policies_share_one_class() -> None:
    world = World()
    read = world.policy("read", WEAK_DOC)
    one = world.user("one", attached=(read,))
    two = world.user("two", attached=(read,))
    three = world.user("three", allow("s3:GetObject"))  # the same grant, from another document
    analysis = analyse(world.inventory())
    classes = [next(iter(analysis.graph.successors(a))) for a in (one, two, three)]
    assert classes[0] == classes[1] != classes[2]
    assert all(c.startswith("class:") for c in classes)


def test_a_run_builds_the_analysis_once_and_keeps_no_global_state() -> None:
    from ams_iam_audit import AuditContext

    inventory = World().inventory()
    context = AuditContext(inventory=inventory)
    assert context.escalation is context.escalation  # once per run
    assert isinstance(analyse(inventory), EscalationAnalysis)
    assert analyse(inventory) is not analyse(inventory)  # no module-level cache outlives a run


def test_a_principal_not_in_the_inventory_is_unknown() -> None:
    verdict = World().verdict(f"{IAM}:user/ghost")
    assert verdict == Verdict("unknown", reasons=(f"{IAM}:user/ghost is not in the inventory",))
    assert verdict.evidence() == {"verdict": "unknown", "not_evaluated": [f"{IAM}:user/ghost is not in the inventory"]}


# ---- unknown: what could not be read is an error, never a pass ----------------------------------------------


def test_a_policy_whose_document_was_not_read_makes_the_verdict_unknown() -> None:
    world = World()
    unread = world.policy("unread", None)
    missing = f"{IAM}:policy/not-in-inventory"
    arn = world.user("u", allow("s3:GetObject"), attached=(unread, missing))
    verdict = world.verdict(arn)
    assert verdict.kind == "unknown"
    assert verdict.reasons == (
        f"policy {unread}, attached to user/u: its document was not read",
        f"policy {missing}, attached to user/u: its document was not read",
    )
    assert verdict.evidence() == {"verdict": "unknown", "not_evaluated": list(verdict.reasons)}


def test_a_group_not_read_or_an_invalid_inline_policy_makes_the_verdict_unknown() -> None:
    world = World()
    world.groups.append(Group("broken", f"{IAM}:group/broken", (InlinePolicy("bad", {"Statement": "nope"}),), ()))
    arn = world.user("u", groups=("gone", "broken"))
    bad_inline = world.user("v", inline={"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]})
    inventory = world.inventory()
    assert analyse(inventory).verdict(arn).reasons == (
        "group gone of user/u was not read",
        "group/broken/inline/bad is not a valid policy",
    )
    assert analyse(inventory).verdict(bad_inline).reasons == ("user/v/inline/grants is not a valid policy",)


def test_a_boundary_whose_document_was_not_read_makes_the_verdict_unknown() -> None:
    world = World()
    unread = world.policy("unread-boundary", None)
    arn = world.user("u", allow("*"), boundary=unread)
    role = world.role("r", trust_doc(service="ec2.amazonaws.com"), allow("*"), boundary=f"{IAM}:policy/gone")
    inventory = world.inventory()
    assert analyse(inventory).verdict(arn).reasons == (
        f"permissions boundary {unread} of user/u: its document was not read",
    )
    assert analyse(inventory).verdict(role).kind == "unknown"


def test_a_boundary_that_was_read_is_labelled_and_intersects() -> None:
    world = World()
    weak = world.policy("weak", WEAK_DOC)
    admin_boundary = world.policy("wide", ADMIN_DOC)
    bounded = world.user("bounded", allow("*"), boundary=weak)
    wide = world.user("wide", allow("*"), boundary=admin_boundary)
    inventory = world.inventory()
    assert analyse(inventory).verdict(bounded).kind == "none"
    assert analyse(inventory).verdict(wide).kind == "administrator"


@pytest.mark.parametrize(
    ("method_id", "section"),
    [
        ("lambda-update-function-code", "lambda"),
        ("codebuild-start-build-override", "codebuild"),
        ("ssm-send-command", "ec2"),
        ("cloudformation-update-stack", "cloudformation"),
        ("glue-update-dev-endpoint", "glue"),
        ("sagemaker-presigned-notebook-url", "sagemaker"),
    ],
)
def test_a_consumer_section_that_could_not_be_read_makes_the_verdict_unknown(method_id: str, section: str) -> None:
    m = method(method_id)
    world = World()
    world.unreadable(f"{section}:{REGION}")
    arn = world.user("u", *grants_for(m))
    verdict = world.verdict(arn)
    assert verdict.kind == "unknown", verdict.evidence()
    assert f"{method_id}: the {section} resources it would target could not be read" in verdict.reasons
    # with the section read and empty, the method is latent; with no section recorded at all, unknown
    readable = World()
    assert readable.verdict(readable.user("u", *grants_for(m))).kind == "latent"
    unrecorded = World(sections=[Section("iam", True)])
    assert unrecorded.verdict(unrecorded.user("u", *grants_for(m))).kind == "unknown"


def test_an_unreadable_consumers_section_makes_every_consumer_method_unknown() -> None:
    world = World()
    world.unreadable("consumers")
    arn = world.user("u", *grants_for(method("ssm-send-command")))
    assert world.verdict(arn).kind == "unknown"


def test_an_unreadable_section_matters_only_to_a_principal_that_holds_the_method() -> None:
    world = World()
    world.unreadable(f"lambda:{REGION}")
    arn = world.user("u", allow("lambda:GetFunction"))
    assert world.verdict(arn).kind == "none"
    # naming the method's action is not holding it: a Deny takes it away
    denies = world.policy("deny-update", doc(deny("lambda:UpdateFunctionCode")))
    denied = world.user("v", allow("lambda:UpdateFunctionCode"), attached=(denies,))
    assert world.verdict(denied).kind == "none", world.verdict(denied).evidence()
    held = world.user("w", allow("lambda:UpdateFunctionCode"))
    assert world.verdict(held).kind == "unknown"


def test_an_unknown_principal_on_the_way_makes_the_verdict_unknown() -> None:
    world = World()
    world.role("unread", trust_doc(aws=f"{IAM}:user/u"), attached=(f"{IAM}:policy/gone",))
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert verdict.kind == "unknown", verdict.evidence()
    assert verdict.reasons == (
        f"role/unread (reachable): policy {IAM}:policy/gone, attached to role/unread: its document was not read",
    )


def test_an_unknown_principal_on_the_way_is_not_hidden_by_a_role_that_holds_no_method() -> None:
    """Assuming a role that holds no method at all (it may not even assume a role that names it) is
    no step, so the unread role the user may also assume still makes its verdict unknown."""
    world = World()
    world.role("unread", trust_doc(aws=f"{IAM}:user/u"), attached=(f"{IAM}:policy/gone",))
    weak = world.role("weak", trust_doc(aws=ACCOUNT), allow("s3:GetObject"), deny("sts:AssumeRole"))
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert verdict.kind == "unknown", verdict.evidence()
    assert world.verdict(weak).kind == "none"


def test_an_ec2_instance_whose_role_is_not_known_makes_the_verdict_unknown() -> None:
    world = World()
    world.consumer("ec2", "i-unresolved", "")
    arn = world.user("u", *grants_for(method("ssm-send-command")))
    verdict = world.verdict(arn)
    assert verdict.kind == "unknown", verdict.evidence()
    assert any("is not known" in r for r in verdict.reasons)


def test_an_instance_whose_role_is_not_known_matters_only_if_the_principal_may_reach_it() -> None:
    """The unknown instance is out of the grant's Resource: the verdict is the known instance's."""
    world = World()
    weak = world.role("weak", trust_doc(service="ec2.amazonaws.com"), allow("s3:GetObject"))
    known = world.consumer("ec2", "i-known", weak)
    world.consumer("ec2", "i-unresolved", "")
    arn = world.user("u", *grants_for(method("ssm-send-command"), on_target=known))
    verdict = world.verdict(arn)
    assert verdict.kind == "none", verdict.evidence()


# ---- targets: which resources each kind of method is aimed at -------------------------------------------


def test_a_policy_version_is_only_rewritten_in_a_customer_managed_policy() -> None:
    m = method("iam-create-policy-version")
    world = World()
    aws_managed = world.policy("ReadOnly", doc(*grants_for(m)), aws=True)
    arn = world.user("u", attached=(aws_managed,))
    assert world.verdict(arn).kind == "latent"  # held, but no policy of its own to rewrite
    world = World()
    own = world.policy("own", doc(*grants_for(m)))
    arn = world.user("u", attached=(own,))
    verdict = world.verdict(arn)
    assert verdict.path[0].method == m
    assert verdict.path[0].proofs[0].resource == own


def test_a_policy_held_through_a_group_is_the_users_own() -> None:
    m = method("iam-create-policy-version")
    world = World()
    own = world.policy("team", doc(*grants_for(m)))
    world.group("team", attached=(own,))
    world.group("other", attached=(world.policy("other", WEAK_DOC),))
    arn = world.user("u", groups=("team",))
    verdict = world.verdict(arn)
    assert named(verdict) == [m.id]
    assert verdict.path[0].proofs[0] == Proof("policy/team", 0, "iam:createpolicyversion", own, False)


def test_an_older_version_must_grant_administrator_to_be_made_default() -> None:
    m = method("iam-set-default-policy-version")
    for older, found in [(ADMIN_DOC, True), (WEAK_DOC, False), ({"Statement": "unparseable"}, False)]:
        world = World()
        own = world.policy("own", doc(*grants_for(m)), older=older)
        arn = world.user("u", attached=(own,))
        verdict = world.verdict(arn)
        assert (m.id in named(verdict) and verdict.kind == "path") == found, older
        if found:
            assert verdict.path[0].detail == "version v1 grants administrator access"


def test_a_group_is_the_users_own_only_when_it_is_a_member() -> None:
    m = method("iam-put-group-policy")
    world = World()
    world.group("mine")
    world.group("theirs")
    member = world.user("member", *grants_for(m), groups=("mine",))
    outsider = world.user("outsider", *grants_for(m))
    role = world.role("r", trust_doc(service="ec2.amazonaws.com"), *grants_for(m))
    inventory = world.inventory()
    verdict = analyse(inventory).verdict(member)
    assert verdict.kind == "path"
    assert verdict.path[0].proofs[0].resource == f"{IAM}:group/mine"
    assert analyse(inventory).verdict(outsider).kind == "latent"
    assert analyse(inventory).verdict(role).kind == "latent"


@pytest.mark.parametrize(
    ("method_id", "password", "found"),
    [
        ("iam-create-login-profile", None, True),
        ("iam-create-login-profile", False, True),
        ("iam-create-login-profile", True, False),
        ("iam-update-login-profile", None, True),
        ("iam-update-login-profile", True, True),
        ("iam-update-login-profile", False, False),
        ("iam-create-access-key", True, True),
        ("iam-create-access-key", False, True),
    ],
)
def test_a_console_password_decides_which_login_method_reaches_a_user(
    method_id: str, password: bool | None, found: bool
) -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.user("admin-user", attached=(admin,), password=password)
    world.user("weak-user", password=not password if password is not None else None)
    arn = world.role("holder", trust_doc(service="ec2.amazonaws.com"), *grants_for(method(method_id)))
    verdict = world.verdict(arn)
    assert (verdict.kind == "path") == found, verdict.evidence()
    if found:
        assert verdict.path[0].target == "user/admin-user"


def test_a_user_gains_nothing_by_a_method_aimed_at_itself() -> None:
    world = World()
    arn = world.user("self-admin", allow("iam:CreateAccessKey"))
    world.user("other", allow("iam:CreateAccessKey"))
    admin = world.policy("admin-all", ADMIN_DOC)
    other = world.user("admin", attached=(admin,))
    analysis = analyse(world.inventory())
    # it can become the administrator user, never itself
    assert [s.target for s in analysis.verdict(arn).path] == ["user/admin", ADMIN]
    assert not analysis.graph.has_edge(arn, arn)
    assert analysis.verdict(other).kind == "administrator"


def test_a_role_for_ec2_must_be_in_an_instance_profile() -> None:
    m = method("ec2-run-instances-pass-role")
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("no-profile", trust_doc(service="ec2.amazonaws.com"), attached=(admin,))
    arn = world.user("u", *grants_for(m))
    assert world.verdict(arn).kind == "latent"
    world.role("with-profile", trust_doc(service="ec2.amazonaws.com"), attached=(admin,), profiles=("p",))
    verdict = world.verdict(arn)
    assert verdict.kind == "path"
    assert verdict.path[0].target == "role/with-profile"


@pytest.mark.parametrize(
    "trust",
    [
        trust_doc(service="glue.amazonaws.com"),
        trust_doc(service="lambda.amazonaws.com", effect="Deny"),
        doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:TagSession"}),
        doc({"Effect": "Allow", "Principal": {"AWS": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}),
        {"Statement": "unparseable"},
    ],
    ids=["other-service", "deny", "other-action", "not-a-service-principal", "unparseable"],
)
def test_a_role_for_a_service_must_trust_that_service_to_assume_it(trust: dict[str, Any]) -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("elsewhere", trust, attached=(admin,))
    arn = world.user("u", *grants_for(method("lambda-create-invoke-pass-role")))
    assert world.verdict(arn).kind == "latent"


def test_a_service_trust_is_read_case_insensitively_among_several() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": ["ec2.amazonaws.com", "Lambda.AmazonAWS.com"]},
            "Action": "sts:AssumeRole",
        }
    )
    world.role("fn", trust, attached=(admin,))
    arn = world.user("u", *grants_for(method("lambda-create-invoke-pass-role")))
    assert world.verdict(arn).kind == "path"


# ---- a role the principal creates, passes and gives any policy ----------------------------------------------

_CREATE = [allow("iam:CreateRole"), allow("iam:PutRolePolicy")]


def test_creating_a_role_for_a_service_and_passing_it_reaches_administrator() -> None:
    m = method("lambda-create-invoke-pass-role")
    world = World()
    arn = world.user("u", *grants_for(m), *_CREATE)
    verdict = world.verdict(arn)
    assert verdict.kind == "path"
    (step, *_) = verdict.path
    assert step.method == m
    assert step.target == ADMIN
    assert step.detail == "a new role trusting lambda.amazonaws.com, with a policy of the principal's choosing"
    assert [p.action for p in step.proofs] == [
        "iam:passrole",
        "lambda:createfunction",
        "lambda:invokefunction",
        "iam:createrole",
        "iam:putrolepolicy",
    ]
    assert step.proofs[0].resource == f"arn:aws:iam::{ACCOUNT}:role/*"


@pytest.mark.parametrize(
    "extra",
    [
        [allow("iam:CreateRole")],  # no way to give it a policy
        [allow("iam:PutRolePolicy")],  # no way to create it
        [
            allow("iam:CreateRole", Condition={"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/weak"}}),
            allow("iam:PutRolePolicy"),
        ],
        [
            allow("iam:CreateRole"),
            allow("iam:AttachRolePolicy", Condition={"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/weak"}}),
        ],
        [allow("iam:CreateRole"), allow("iam:PutRolePolicy", f"{IAM}:user/*")],
    ],
    ids=["no-policy", "no-create", "fixed-boundary", "harmless-policy-only", "policy-elsewhere"],
)
def test_a_new_role_that_stays_weak_is_no_way_up(extra: list[dict[str, Any]]) -> None:
    world = World()
    world.policy("weak", WEAK_DOC)
    arn = world.user("u", *grants_for(method("lambda-create-invoke-pass-role")), *extra)
    assert world.verdict(arn).kind == "latent"


def test_attaching_an_administrator_policy_to_a_new_role_is_a_way_up() -> None:
    world = World()
    world.policy("wide", ADMIN_DOC)
    extra = [
        allow("iam:CreateRole"),
        allow("iam:AttachRolePolicy", Condition={"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/wide"}}),
    ]
    arn = world.user("u", *grants_for(method("lambda-create-invoke-pass-role")), *extra)
    verdict = world.verdict(arn)
    assert verdict.kind == "path"
    assert verdict.path[0].proofs[-1].action == "iam:attachrolepolicy"


def test_a_new_role_for_ec2_also_needs_an_instance_profile() -> None:
    m = method("ec2-run-instances-pass-role")
    world = World()
    arn = world.user("u", *grants_for(m), *_CREATE)
    assert world.verdict(arn).kind == "latent"
    world = World()
    arn = world.user("u", *grants_for(m), *_CREATE, allow("iam:AddRoleToInstanceProfile"))
    verdict = world.verdict(arn)
    assert verdict.kind == "path"
    assert verdict.path[0].proofs[-1].action == "iam:addroletoinstanceprofile"


# ---- conditions that narrow a method's actions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "found"),
    [
        ({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}, True),
        ({"StringEquals": {"iam:PassedToService": "LAMBDA.amazonaws.com"}}, True),
        ({"StringEquals": {"iam:PassedToService": ["glue.amazonaws.com", "lambda.amazonaws.com"]}}, True),
        ({"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, False),
        ({"StringLike": {"iam:PassedToService": "*"}}, True),
        ({"StringNotEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, True),
        ({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, True),
    ],
)
def test_pass_role_narrowed_to_another_service_is_no_way_up(condition: dict[str, Any], found: bool) -> None:
    world = World()
    targets(world)
    statements = grants_for(method("lambda-create-invoke-pass-role"), condition={"iam:passrole": condition})
    arn = world.user("u", *statements)
    assert (world.verdict(arn).kind == "path") == found


@pytest.mark.parametrize(
    ("policy_arn", "found"),
    [
        (f"{IAM}:policy/weak", False),
        (f"{IAM}:policy/wide", True),
        (f"{IAM}:policy/not-in-inventory", True),  # it could grant anything
        (f"{IAM}:policy/unread", True),
        ("arn:aws:iam::aws:policy/AdministratorAccess", True),
        ("arn:aws:iam::aws:policy/IAMFullAccess", True),
    ],
)
def test_attaching_a_named_policy_is_a_way_up_only_when_it_may_grant_administrator(
    policy_arn: str, found: bool
) -> None:
    world = World()
    world.policy("weak", WEAK_DOC)
    world.policy("wide", ADMIN_DOC)
    world.policy("unread", None)
    condition = {"iam:attachuserpolicy": {"ArnEquals": {"iam:PolicyARN": policy_arn}}}
    arn = world.user("u", *grants_for(method("iam-attach-user-policy"), condition=condition))
    assert (world.verdict(arn).kind == "path") == found


def test_create_role_narrowed_by_a_permissions_boundary_is_no_way_up() -> None:
    m = method("iam-create-role-and-assume")
    condition = {"iam:createrole": {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/weak"}}}
    world = World()
    arn = world.user("u", *grants_for(m, condition=condition))
    assert m.id not in named(world.verdict(arn))
    world = World()
    arn = world.user("u", *grants_for(m))
    assert m.id in named(world.verdict(arn))


# ---- permissions boundaries removed ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statements", "boundary_doc", "found"),
    [
        ([allow("iam:DeleteUserPermissionsBoundary"), allow("*")], doc(allow(_SELF_REMOVAL)), True),
        ([allow("iam:PutUserPermissionsBoundary"), allow("*")], doc(allow(_SELF_REMOVAL)), True),
        ([allow("iam:DeleteUserPermissionsBoundary"), allow("s3:*")], doc(allow(_SELF_REMOVAL)), False),
        ([allow("iam:DeleteUserPermissionsBoundary"), allow("*")], WEAK_DOC, False),
        ([allow("iam:DeleteUserPermissionsBoundary"), allow("*")], None, None),
    ],
    ids=["delete", "put", "nothing-behind-it", "boundary-forbids-removal", "no-boundary"],
)
def test_removing_a_boundary_is_a_way_up_only_to_administrator_grants(
    statements: list[dict[str, Any]], boundary_doc: dict[str, Any] | None, found: bool | None
) -> None:
    world = World()
    boundary = world.policy("boundary", boundary_doc) if boundary_doc is not None else None
    arn = world.user("u", *statements, boundary=boundary)
    verdict = world.verdict(arn)
    if found is None:
        assert verdict.kind == "administrator"  # nothing to remove: it is administrator already
        return
    assert ("iam-delete-user-permissions-boundary" in named(verdict) and verdict.kind == "path") == found
    if found:
        assert verdict.path[0].target == ADMIN


def test_a_role_method_is_not_a_users_and_the_other_way_round() -> None:
    world = World()
    role = world.role("r", trust_doc(service="ec2.amazonaws.com"), allow("iam:PutUserPolicy"))
    user = world.user("u", allow("iam:PutRolePolicy"))
    inventory = world.inventory()
    assert analyse(inventory).verdict(role).kind == "none"
    assert named(analyse(inventory).verdict(user)) == ["iam-put-role-policy-assumable"]  # latent: no role to assume
    world = World()
    role = world.role("r", trust_doc(service="ec2.amazonaws.com"), allow("iam:PutRolePolicy"))
    user = world.user("u", allow("iam:PutUserPolicy"))
    inventory = world.inventory()
    assert named(analyse(inventory).verdict(role)) == ["iam-put-role-policy-self"]
    assert named(analyse(inventory).verdict(user)) == ["iam-put-user-policy"]


def test_a_self_method_is_aimed_at_the_principal_itself() -> None:
    world = World()
    arn = world.user("u", allow("iam:PutUserPolicy", f"{IAM}:user/someone-else"))
    assert world.verdict(arn).kind == "none"
    world = World()
    arn = world.user("u", allow("iam:PutUserPolicy", f"{IAM}:user/u"))
    verdict = world.verdict(arn)
    assert verdict.path[0].proofs[0].resource == arn


# ---- enabled_by: what one document alone enables (AMS-PRIV-002) --------------------------------------------


def exactly(m: Method, resource: str = "*") -> dict[str, Any]:
    """A document granting exactly the method's actions (the first of each need's alternatives)."""
    return doc(*(allow(need.actions[0], resource if need.on_target else "*") for need in m.needs))


@pytest.mark.parametrize("m", methods(), ids=lambda m: m.id)
def test_every_method_is_enabled_by_a_document_granting_exactly_its_actions(m: Method) -> None:
    analysis = analyse(World().inventory())
    enabled = analysis.enabled_by("policy/p", parse_policy(exactly(m)))
    found = {e.method.id: e for e in enabled}
    assert m.id in found
    assert [p.action for p in found[m.id].proofs] == [n.actions[0] for n in m.needs]
    assert all(p.policy == "policy/p" for p in found[m.id].proofs)
    # each alternative of a need serves as well as the first
    for i, need in enumerate(m.needs):
        for other in need.actions[1:]:
            statements = [allow(n.actions[0] if j != i else other) for j, n in enumerate(m.needs)]
            ids = {e.method.id for e in analysis.enabled_by("policy/p", parse_policy(doc(*statements)))}
            assert m.id in ids, other


@pytest.mark.parametrize("m", methods(), ids=lambda m: m.id)
def test_no_method_is_enabled_without_one_of_its_actions(m: Method) -> None:
    analysis = analyse(World().inventory())
    for i in range(len(m.needs)):
        statements = [allow(list(n.actions)) for j, n in enumerate(m.needs) if j != i]
        ids = {e.method.id for e in analysis.enabled_by("policy/p", parse_policy(doc(*statements)))}
        assert m.id not in ids, m.needs[i]


@pytest.mark.parametrize("m", [m for m in methods() if any(n.on_target for n in m.needs)], ids=lambda m: m.id)
def test_a_method_aimed_at_one_named_resource_is_not_enabled_by_the_document(m: Method) -> None:
    """The per-document view asks for every resource of the target's kind: one named target is the
    principal-level verdict's question (is that target privileged?)."""
    analysis = analyse(World().inventory())
    named = exactly(m, "arn:aws:iam::111122223333:role/one-named-thing")
    assert m.id not in {e.method.id for e in analysis.enabled_by("policy/p", parse_policy(named))}


def test_enabled_by_one_document() -> None:
    analysis = analyse(World().inventory())
    lambda_method = method("lambda-create-invoke-pass-role")
    enabled = analysis.enabled_by("policy/p", parse_policy(doc(*grants_for(lambda_method))))
    assert lambda_method in [e.method for e in enabled]
    assert method("iam-put-user-policy") not in [e.method for e in enabled]
    narrowed = grants_for(
        lambda_method, condition={"iam:passrole": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}}
    )
    assert lambda_method not in [e.method for e in analysis.enabled_by("policy/p", parse_policy(doc(*narrowed)))]
    own = grants_for(
        lambda_method, condition={"iam:passrole": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}
    )
    assert lambda_method in [e.method for e in analysis.enabled_by("policy/p", parse_policy(doc(*own)))]
    assert analysis.enabled_by("policy/p", parse_policy(WEAK_DOC)) == ()
    # administrator outright is AMS-PRIV-001's: the statement is left out, whatever else it would enable
    assert analysis.enabled_by("policy/p", parse_policy(ADMIN_DOC)) == ()
    assert analysis.enabled_by("policy/p", parse_policy(doc(allow("iam:*")))) == ()
    every_iam_on_roles = analysis.enabled_by("policy/p", parse_policy(doc(allow("iam:*", f"{IAM}:role/*"))))
    assert {"iam-put-role-policy-self", "iam-update-assume-role-policy"} <= {e.method.id for e in every_iam_on_roles}
    # iam:PassRole alone: no service the holder drives accepts the role
    assert analysis.enabled_by("policy/p", parse_policy(doc(allow("iam:PassRole")))) == ()


def test_enabled_by_on_the_holder_itself() -> None:
    """An inline policy aimed at its own holder enables the methods aimed at the principal itself."""
    analysis = analyse(World().inventory())
    own = f"{IAM}:role/app"
    document = parse_policy(doc(allow("iam:PutRolePolicy", own)))
    assert analysis.enabled_by("role/app/inline/p", document) == ()
    (found,) = analysis.enabled_by("role/app/inline/p", document, holder=own)
    assert (found.method.id, found.resource) == ("iam-put-role-policy-self", own)
    assert found.describe()["granted_by"] == {"iam:PutRolePolicy": 0}
    assert found.describe()["on"] == own
    # a user's policy aimed at a role named like it is not aimed at itself
    assert analysis.enabled_by("user/app/inline/p", document, holder=f"{IAM}:user/app") == ()


def test_enabled_by_conditions_and_denies() -> None:
    analysis = analyse(World().inventory())
    roles = f"{IAM}:role/*"
    bounded = {"StringEquals": {"iam:PermissionsBoundary": f"{IAM}:policy/weak"}}

    def ids(*statements: dict[str, Any]) -> set[str]:
        return {e.method.id for e in analysis.enabled_by("policy/p", parse_policy(doc(*statements)))}

    assert "iam-put-role-policy-self" in ids(allow("iam:PutRolePolicy", roles))
    # a fixed boundary keeps the changed role within it; a wildcard one keeps nothing
    assert "iam-put-role-policy-self" not in ids(allow("iam:PutRolePolicy", roles, Condition=bounded))
    like = {"StringLike": {"iam:PermissionsBoundary": "*"}}
    assert "iam-put-role-policy-self" in ids(allow("iam:PutRolePolicy", roles, Condition=like))
    # removing a boundary is the escalation: a condition on the boundary it removes narrows nothing
    removal = allow("iam:DeleteRolePermissionsBoundary", roles, Condition=bounded)
    assert "iam-delete-role-permissions-boundary" in ids(removal)
    # a Deny in the same document that certainly covers the target removes the method; one on a single
    # role does not
    assert "iam-put-role-policy-self" not in ids(allow("iam:PutRolePolicy", roles), deny("iam:PutRolePolicy"))
    assert "iam-put-role-policy-self" in ids(
        allow("iam:PutRolePolicy", roles), deny("iam:PutRolePolicy", f"{IAM}:role/one")
    )
    # every function of an audited region, or of every region; not another account's
    assert "lambda-update-function-code" in ids(
        allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*")
    )
    assert "lambda-update-function-code" not in ids(
        allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:444455556666:function:*")
    )
    assert "lambda-update-function-code" not in ids(
        allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:app-*")
    )


def test_half_a_method_is_neither_latent_nor_unknown() -> None:
    half = [allow("cloudformation:CreateChangeSet")]  # cloudformation-execute-change-set also needs ExecuteChangeSet
    for readable in (True, False):
        world = World()
        if not readable:
            world.unreadable(f"cloudformation:{REGION}")
        arn = world.user("u", *half)
        assert world.verdict(arn).kind == "none", readable
    world = World()
    world.user("any", allow("iam:AddUserToGroup"))  # no group: latent; half of nothing else
    holder = world.user("holder", allow("iam:CreatePolicyVersion"))  # no policy of its own: latent
    verdict = world.verdict(holder)
    assert verdict.kind == "latent"
    assert verdict.evidence()["latent"] == [
        {
            "method": "iam-create-policy-version",
            "title": method("iam-create-policy-version").title,
            "granted_by": [
                {
                    "policy": "user/holder/inline/grants",
                    "statement_index": 0,
                    "action": "iam:createpolicyversion",
                    "resource": "*",
                }
            ],
        }
    ]


def test_a_group_assumes_nothing() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.role("target", trust_doc(aws=f"{IAM}:root"), attached=(admin,))
    world.consumer("lambda", "fn", f"{IAM}:role/target")  # the account also has things that run as roles
    group = world.group("assumers", allow("sts:AssumeRole"))
    member = world.user("member", groups=("assumers",))
    inventory = world.inventory()
    assert analyse(inventory).verdict(group).kind == "latent"  # held, yet no role is a target of a group
    assert analyse(inventory).verdict(member).kind == "path"


def test_a_consumer_of_another_kind_is_no_target() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    fn_role = world.role("fn", trust_doc(service="lambda.amazonaws.com"), attached=(admin,))
    world.consumer("lambda", "privileged-fn", fn_role)
    arn = world.user("u", allow("codebuild:StartBuild"))
    assert world.verdict(arn).kind == "latent"
    updater = world.user("updater", allow("lambda:UpdateFunctionCode"))
    verdict = world.verdict(updater)
    assert verdict.path[0].detail == f"lambda privileged-fn in {REGION}"
    assert verdict.path[0].target == "role/fn"


def test_the_first_method_in_catalogue_order_names_an_edge() -> None:
    world = World()
    arn = world.role("r", trust_doc(service="ec2.amazonaws.com"), allow(["iam:PutRolePolicy", "iam:AttachRolePolicy"]))
    verdict = world.verdict(arn)
    assert named(verdict) == ["iam-attach-role-policy-self"]


def test_changing_a_role_one_can_assume_needs_the_right_to_assume_it() -> None:
    m = method("iam-attach-role-policy-assumable")
    world = World()
    world.role("by-account", trust_doc(aws=f"{IAM}:root"))
    only_attach = world.user("only-attach", allow("iam:AttachRolePolicy"))
    both = world.user("both", allow("iam:AttachRolePolicy"), allow("sts:AssumeRole"))
    inventory = world.inventory()
    assert analyse(inventory).verdict(only_attach).kind == "none"
    verdict = analyse(inventory).verdict(both)
    assert named(verdict) == [m.id]
    assert [p.action for p in verdict.path[0].proofs] == ["iam:attachrolepolicy", "sts:assumerole"]
    world = World()
    world.role("named", trust_doc(aws=f"{IAM}:user/u"))
    arn = world.user("u", allow("iam:AttachRolePolicy"))
    verdict = world.verdict(arn)
    assert named(verdict) == [m.id]
    assert verdict.path[0].proofs[1] == Proof(
        "role/named trust policy", 0, "sts:assumerole", f"{IAM}:role/named", False
    )


def test_the_same_policies_with_and_without_a_boundary_are_two_classes() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    weak = world.policy("weak", WEAK_DOC)
    free = world.user("free", attached=(admin,))
    bounded = world.user("bounded", attached=(admin,), boundary=weak)
    inventory = world.inventory()
    assert analyse(inventory).verdict(free).kind == "administrator"
    assert analyse(inventory).verdict(bounded).kind == "none"


def test_a_principal_with_an_unread_policy_is_no_step_on_a_path() -> None:
    world = World()
    world.role("half-read", trust_doc(aws=f"{IAM}:user/u"), allow("*"), attached=(f"{IAM}:policy/gone",))
    arn = world.user("u", allow("sts:AssumeRole"))
    assert world.verdict(arn).kind == "unknown"  # not "path": what it holds is not known as a whole


def test_a_policy_of_a_group_the_user_is_not_in_is_not_its_own() -> None:
    world = World()
    world.group("not-mine", attached=(world.policy("theirs", WEAK_DOC),))
    arn = world.user("u", allow("iam:CreatePolicyVersion"))
    assert world.verdict(arn).kind == "latent"


def test_only_pass_role_is_narrowed_by_the_service_it_passes_to() -> None:
    m = method("lambda-create-invoke-pass-role")
    odd = {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}  # a key CreateFunction never carries
    world = World()
    targets(world)
    arn = world.user("u", *grants_for(m, condition={"lambda:createfunction": odd}))
    assert world.verdict(arn).kind == "path"


def test_put_role_policy_on_a_new_role_is_not_narrowed_by_a_policy_arn() -> None:
    world = World()
    world.policy("weak", WEAK_DOC)
    put = allow("iam:PutRolePolicy", Condition={"ArnEquals": {"iam:PolicyARN": f"{IAM}:policy/weak"}})
    arn = world.user("u", *grants_for(method("lambda-create-invoke-pass-role")), allow("iam:CreateRole"), put)
    assert world.verdict(arn).kind == "path"  # an inline policy is written whole: the key does not apply


def test_either_way_of_removing_a_boundary_serves() -> None:
    world = World()
    boundary = world.policy("boundary", doc(allow(_SELF_REMOVAL)))
    no_put = world.policy("no-put", doc(deny("iam:PutUserPermissionsBoundary")))
    arn = world.user("u", allow("*"), attached=(no_put,), boundary=boundary)
    verdict = world.verdict(arn)
    assert named(verdict) == ["iam-delete-user-permissions-boundary"]
    assert verdict.path[0].proofs[0].action == "iam:deleteuserpermissionsboundary"


def test_a_path_names_principals_by_their_labels_whatever_their_path() -> None:
    world = World()
    admin = world.policy("admin-all", ADMIN_DOC)
    world.roles.append(
        Role("deep", f"{IAM}:role/team/deep", "/team/", None, trust_doc(aws=f"{IAM}:user/u"), (), _attached((admin,)))
    )
    arn = world.user("u", allow("sts:AssumeRole"))
    verdict = world.verdict(arn)
    assert [(s.source, s.target) for s in verdict.path] == [("user/u", "role/deep"), ("role/deep", ADMIN)]


def test_a_consumer_whose_role_is_not_in_the_inventory_leads_nowhere() -> None:
    world = World()
    world.consumer("lambda", "fn", f"{IAM}:role/elsewhere")
    arn = world.user("u", allow("lambda:UpdateFunctionCode"))
    assert world.verdict(arn).kind == "none"
