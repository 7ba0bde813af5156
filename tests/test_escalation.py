"""AMS-PRIV-004 (who can become administrator) against a moto account built from the catalogue itself.

For every method of ``data/escalation_methods.json`` the account holds one principal with the least
the method needs and a target that makes it administrator; and near misses: the same grants denied
in a second policy, aimed at a resource that is no target, narrowed by a condition that certainly
excludes what the method needs, or cut by a permissions boundary. Every method is found, with its
own id in the path; every near miss passes. Without targets the methods are latent. The same account
audited from a saved snapshot gives the same verdicts; from a raw GetAccountAuthorizationDetails
file, the methods whose targets lie outside IAM become errors, never passes.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import ACCOUNT, Account

from ams_iam_audit.analysis import Method, methods

RULE = "AMS-PRIV-004"
ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
WEAK_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _trust(*, service: str | None = None, aws: str | None = None) -> dict[str, Any]:
    principal = {"Service": service} if service else {"AWS": aws}
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


class Seeder:
    """Seeds the account over HTTP; names say what each resource is for."""

    def __init__(self, aws: Account) -> None:
        self.aws = aws
        self.iam = aws.iam
        self.admin_arn = aws.policy("admin-all", document=ADMIN_DOC)
        self.harmless_arn = aws.policy("harmless-read", document=WEAK_DOC)
        self.boundary_arn = aws.policy("boundary-s3-read", document=WEAK_DOC)
        self._self_removal: str | None = None

    def role(self, name: str, trust: dict[str, Any], admin: bool, boundary: str | None = None) -> str:
        extra = {"PermissionsBoundary": boundary} if boundary else {}
        arn = str(
            self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"]
        )
        self.iam.attach_role_policy(RoleName=name, PolicyArn=self.admin_arn if admin else self.harmless_arn)
        return arn

    def unbounded_boundary(self) -> str:
        """A boundary that allows only removing itself (around a role that holds administrator grants)."""
        if self._self_removal is None:
            actions = ["iam:DeleteRolePermissionsBoundary", "iam:PutRolePermissionsBoundary"]
            self._self_removal = self.aws.policy(
                "boundary-self-removal", {"Effect": "Allow", "Action": actions, "Resource": "*"}
            )
        return self._self_removal

    def targets(self) -> None:
        """One administrator target of every kind, trusted by nobody the principals are."""
        services = {m.service for m in methods() if m.service and m.target == "role_for_service"}
        for service in sorted(services):
            self.role(f"admin-for-{service.split('.')[0]}", _trust(service=service), admin=True)
        self.role("admin-for-ec2", _trust(service="ec2.amazonaws.com"), admin=True)
        self.iam.create_instance_profile(InstanceProfileName="admin-profile")
        self.iam.add_role_to_instance_profile(InstanceProfileName="admin-profile", RoleName="admin-for-ec2")
        self.role("admin-any", _trust(aws=f"arn:aws:iam::{ACCOUNT}:user/nobody"), admin=True)
        self.iam.create_user(UserName="admin-user")
        self.iam.attach_user_policy(UserName="admin-user", PolicyArn=self.admin_arn)
        self.iam.create_group(GroupName="admins")
        self.iam.attach_group_policy(GroupName="admins", PolicyArn=self.admin_arn)
        function_role = f"arn:aws:iam::{ACCOUNT}:role/admin-for-lambda"
        self.aws.client("lambda").create_function(
            FunctionName="privileged-fn", Runtime="python3.12", Role=function_role, Handler="main.handler",
            Code={"ZipFile": _zip()},
        )  # fmt: skip
        self.aws.client("codebuild").create_project(
            name="privileged-build",
            serviceRole=f"arn:aws:iam::{ACCOUNT}:role/admin-for-codebuild",
            source={"type": "S3", "location": "builds/privileged.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0", "computeType": "BUILD_GENERAL1_SMALL"
            },
        )  # fmt: skip

    def principal(
        self,
        name: str,
        method: Method,
        statements: list[dict[str, Any]],
        boundary: str | None = None,
        trust_account: bool = False,
    ) -> str:
        """A principal of the method's kind holding ``statements``, with what its own target needs."""
        kind = method.principal_kind or "user"
        document = {"Version": "2012-10-17", "Statement": statements}
        if kind == "role":
            arn = self.role(name, _trust(service="ec2.amazonaws.com"), admin=None, boundary=boundary)
            holder = {"RoleName": name}
        else:
            arn = str(self.iam.create_user(UserName=name)["User"]["Arn"])
            holder = {"UserName": name}
        if method.target in ("own_policy", "own_policy_with_admin_version"):
            policy = self.aws.policy(
                f"{name}-own", document=ADMIN_DOC if method.target.endswith("version") else document
            )
            if method.target.endswith("version"):  # version 1 is administrator, version 2 (default) its grants
                self.iam.create_policy_version(PolicyArn=policy, PolicyDocument=json.dumps(document), SetAsDefault=True)
            attach = self.iam.attach_role_policy if kind == "role" else self.iam.attach_user_policy
            attach(PolicyArn=policy, **holder)
        else:
            put = self.iam.put_role_policy if kind == "role" else self.iam.put_user_policy
            put(PolicyName="grants", PolicyDocument=json.dumps(document), **holder)
        if method.target == "own_group":
            self.iam.create_group(GroupName=f"{name}-group")
            self.iam.add_user_to_group(GroupName=f"{name}-group", UserName=name)
        if method.target == "assumable_role":
            # sts:AssumeRole alone must reach an administrator; the other methods make a weak role one
            trusted = f"arn:aws:iam::{ACCOUNT}:root" if trust_account else arn
            self.role(f"{name}-target", _trust(aws=trusted), admin=method.id == "sts-assume-role")
        return arn


#: Where a method's actions on new resources are granted: roles it creates are named new-*, so its
#: sts:AssumeRole does not also reach the other principals' targets.
_NEW = {"iam-create-role-and-assume": f"arn:aws:iam::{ACCOUNT}:role/new-*"}


def _grants(method: Method, *, on_target: str = "*", condition: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    out = []
    for need in method.needs:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Action": need.actions[0],
            "Resource": on_target if need.on_target else _NEW.get(method.id, "*"),
        }
        if condition is not None and need.actions[0] in condition:
            statement["Condition"] = condition[need.actions[0]]
        out.append(statement)
    if method.gains == "unbounded":
        out.append({"Effect": "Allow", "Action": "*", "Resource": "*"})
    return out


def _other_service(method: Method) -> str:
    return "glue.amazonaws.com" if method.service != "glue.amazonaws.com" else "states.amazonaws.com"


def _narrowing(method: Method, seeder: Seeder) -> dict[str, Any] | None:
    """A condition that certainly excludes what the method needs, where the catalogue names one."""
    if method.service is not None:
        return {"iam:passrole": {"StringEquals": {"iam:PassedToService": _other_service(method)}}}
    policy_keyed = [a for a, key in method.narrowed_by if key == "iam:policyarn"]
    if policy_keyed:
        return {a: {"ArnEquals": {"iam:PolicyARN": seeder.harmless_arn}} for a in policy_keyed}
    return None


#: moto's GetAccountAuthorizationDetails reports the boundaries of roles but not of users: the user
#: variant is judged from a GAAD file (test_boundary_of_a_user_from_a_gaad_file).
LIVE_METHODS = [m for m in methods() if m.id != "iam-delete-user-permissions-boundary"]


@dataclass(frozen=True)
class Expect:
    """What AMS-PRIV-004 must say of one principal of the catalogue account."""

    method: str
    near_miss: bool
    #: other methods whose every action the near miss still holds: it may fail by them, never by ``method``
    others: tuple[str, ...] = ()


def _held_by(statements: list[dict[str, Any]], method: Method) -> tuple[str, ...]:
    allowed = {str(a).lower() for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])}
    denied = {str(a).lower() for s in statements if s["Effect"] == "Deny" for a in _listed(s["Action"])}
    held = {a for a in allowed if a not in denied}
    every = "*" in held
    return tuple(
        m.id
        for m in methods()
        if m.id != method.id and all(every or any(a in held for a in n.actions) for n in m.needs)
    )


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def seed_catalogue(aws: Account) -> dict[str, Expect]:
    """Every method's principal and near misses, by principal label."""
    seeder = Seeder(aws)
    seeder.targets()
    expected: dict[str, Expect] = {}

    def near_miss(prefix: str, method: Method, statements: list[dict[str, Any]], **kwargs: Any) -> None:
        name = f"{prefix}-{method.id}"[:60]
        seeder.principal(name, method, statements, **kwargs)
        label = method.principal_kind or "user"
        expected[f"{label}/{name}"] = Expect(method.id, near_miss=True, others=_held_by(statements, method))

    for method in LIVE_METHODS:
        name = f"m-{method.id}"[:60]
        bound = seeder.unbounded_boundary() if method.gains == "unbounded" else None
        seeder.principal(name, method, _grants(method), boundary=bound)
        expected[f"{method.principal_kind or 'user'}/{name}"] = Expect(method.id, near_miss=False)
        # the first action denied in a second statement
        denial = {"Effect": "Deny", "Action": list(method.needs[0].actions), "Resource": "*"}
        near_miss("n-deny", method, [*_grants(method), denial])
        # the target-bound actions aimed at something that is no target (a role to assume is then
        # one that trusts the account, so the identity grant is what decides)
        if any(n.on_target for n in method.needs) and method.target != "self":
            aside = _grants(method, on_target=f"arn:aws:iam::{ACCOUNT}:role/no-such-target")
            near_miss("n-aside", method, aside, trust_account=True)
        # a condition that certainly excludes what the method needs
        condition = _narrowing(method, seeder)
        if condition is not None:
            near_miss("n-cond", method, _grants(method, condition=condition))
        # a permissions boundary that allows none of it (moto reports the boundaries of roles)
        if method.principal_kind == "role":
            near_miss("n-bound", method, _grants(method), boundary=seeder.boundary_arn)
    return expected


@pytest.fixture
def catalogue_account(aws: Account) -> dict[str, Expect]:
    return seed_catalogue(aws)


def _judged(result: Any) -> dict[str, dict[str, Any]]:
    return {f["resource"]: f for f in result.findings if f["rule_id"] == RULE}


def test_every_method_is_found_and_no_near_miss_is_found_by_it(
    catalogue_account: dict[str, Expect], audit: Any
) -> None:
    judged = _judged(audit("-k", RULE))
    wrong = []
    for resource, expect in catalogue_account.items():
        finding = judged[resource]
        evidence = finding["evidence"]
        named = [s.get("method") for s in evidence.get("path", [])] + [m["method"] for m in evidence.get("latent", [])]
        if not expect.near_miss:
            ok = finding["outcome"] == "fail" and finding["severity"] == "critical" and expect.method in named
        elif expect.others:
            ok = expect.method not in named  # it may still fall by another method it holds
        else:
            ok = finding["outcome"] == "pass"
        if not ok:
            wrong.append(f"{resource} {finding['outcome']} {json.dumps(evidence)[:600]}")
    assert not wrong, "\n".join(wrong)
    near_misses = [e for e in catalogue_account.values() if e.near_miss]
    assert sum(1 for e in near_misses if not e.others) > len(methods())  # most near misses must pass outright


def test_the_path_names_each_statement_that_allows_each_step(catalogue_account: dict[str, Expect], audit: Any) -> None:
    finding = _judged(audit("-k", RULE))["user/m-lambda-create-invoke-pass-role"]
    step, last = finding["evidence"]["path"]
    assert step["from"] == "user/m-lambda-create-invoke-pass-role"
    assert step["to"] == "role/admin-for-lambda"
    assert step["source"].startswith("Rhino Security Labs")
    assert {(g["policy"], g["action"]) for g in step["granted_by"]} == {
        ("user/m-lambda-create-invoke-pass-role/inline/grants", a)
        for a in ("iam:passrole", "lambda:createfunction", "lambda:invokefunction")
    }
    assert finding["evidence"]["hops"] == 1
    assert last == {
        "from": "role/admin-for-lambda",
        "to": "administrator",
        "method": "holds administrator access",
        "granted_by": [{"policy": "policy/admin-all", "statement_index": 0, "action": "iam:*", "resource": "*"}],
    }


def test_without_targets_the_methods_are_latent(aws: Account, audit: Any) -> None:
    seeder = Seeder(aws)
    latent = [
        m for m in methods() if m.target in ("role_for_service", "role_for_ec2", "function", "project", "any_role")
    ]
    for method in latent:
        seeder.principal(f"m-{method.id}"[:60], method, _grants(method))
    judged = _judged(audit("-k", RULE))
    for method in latent:
        finding = judged[f"user/m-{method.id}"[:65]]
        assert finding["outcome"] == "fail", method.id
        assert finding["severity"] == "medium", method.id
        assert method.id in [entry["method"] for entry in finding["evidence"]["latent"]]


def test_a_chain_of_three_roles_is_one_path_in_order_and_a_trust_loop_ends(aws: Account, audit: Any) -> None:
    seeder = Seeder(aws)
    user = str(aws.iam.create_user(UserName="dev")["User"]["Arn"])
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    aws.iam.put_user_policy(UserName="dev", PolicyName="assume", PolicyDocument=json.dumps(assume))
    first = seeder.role("hop-1", _trust(aws=user), admin=False)
    aws.iam.put_role_policy(RoleName="hop-1", PolicyName="assume", PolicyDocument=json.dumps(assume))
    second = seeder.role("hop-2", _trust(aws=first), admin=False)
    aws.iam.put_role_policy(RoleName="hop-2", PolicyName="assume", PolicyDocument=json.dumps(assume))
    seeder.role("hop-3-admin", _trust(aws=second), admin=True)
    # a loop of two weak roles that trust each other, and a user that can enter it
    loop_a = seeder.role("loop-a", _trust(aws=f"arn:aws:iam::{ACCOUNT}:role/loop-b"), admin=False)
    aws.iam.create_role(RoleName="loop-b", AssumeRolePolicyDocument=json.dumps(_trust(aws=loop_a)))
    looper = str(aws.iam.create_user(UserName="looper")["User"]["Arn"])
    aws.iam.update_assume_role_policy(RoleName="loop-a", PolicyDocument=json.dumps(_trust(aws=looper)))
    aws.iam.put_user_policy(UserName="looper", PolicyName="assume", PolicyDocument=json.dumps(assume))

    judged = _judged(audit("-k", RULE))

    path = judged["user/dev"]["evidence"]["path"]
    assert [(s["from"], s["method"], s["to"]) for s in path] == [
        ("user/dev", "sts-assume-role", "role/hop-1"),
        ("role/hop-1", "sts-assume-role", "role/hop-2"),
        ("role/hop-2", "sts-assume-role", "role/hop-3-admin"),
        ("role/hop-3-admin", "holds administrator access", "administrator"),
    ]
    assert judged["user/dev"]["outcome"] == "fail"
    assert judged["role/hop-3-admin"]["outcome"] == "pass"  # already administrator: nothing to become
    assert judged["user/looper"]["outcome"] == "pass"
    assert judged["role/loop-a"]["outcome"] == "pass"


def test_a_combination_split_over_two_policies_and_a_deny_in_a_third(aws: Account, audit: Any) -> None:
    seeder = Seeder(aws)
    seeder.role("admin-for-ec2", _trust(service="ec2.amazonaws.com"), admin=True)
    aws.iam.create_instance_profile(InstanceProfileName="p")
    aws.iam.add_role_to_instance_profile(InstanceProfileName="p", RoleName="admin-for-ec2")
    pass_role = aws.policy("pass-role", {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    run = aws.policy("run-instances", {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"})
    deny = aws.policy("deny-pass", {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"})
    for name, policies in (("split", (pass_role, run)), ("split-denied", (pass_role, run, deny)), ("half", (run,))):
        aws.iam.create_user(UserName=name)
        for arn in policies:
            aws.iam.attach_user_policy(UserName=name, PolicyArn=arn)
    aws.iam.create_user(UserName="pass-only")
    aws.iam.attach_user_policy(UserName="pass-only", PolicyArn=pass_role)

    judged = _judged(audit("-k", RULE))

    assert judged["user/split"]["outcome"] == "fail"
    assert {g["policy"] for g in judged["user/split"]["evidence"]["path"][0]["granted_by"]} == {
        "policy/pass-role",
        "policy/run-instances",
    }
    assert judged["user/split-denied"]["outcome"] == "pass"
    assert judged["user/half"]["outcome"] == "pass"
    # iam:PassRole with no service the principal can drive is no path
    assert judged["user/pass-only"]["outcome"] == "pass"


def test_snapshot_gives_the_same_verdicts_and_a_raw_gaad_file_never_passes_what_it_cannot_see(
    catalogue_account: dict[str, Expect], audit: Any, aws: Account, tmp_path: Any
) -> None:
    snapshot = tmp_path / "account.snapshot.json"
    live = audit("-k", RULE, "--save-snapshot", str(snapshot))
    offline = audit("-k", RULE, "--snapshot", str(snapshot))
    assert live.outcomes(RULE) == offline.outcomes(RULE)

    pages = list(aws.iam.get_paginator("get_account_authorization_details").paginate())
    gaad = {
        k: [i for p in pages for i in p.get(k, [])]
        for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    }
    raw = tmp_path / "gaad.json"
    raw.write_text(json.dumps(gaad, default=str))
    from_gaad = audit("-k", RULE, "--snapshot", str(raw)).outcomes(RULE)
    outside = {m.id for m in methods() if m.target in ("function", "project")}
    for resource, finding in _judged(live).items():
        named = {s.get("method") for s in finding["evidence"].get("path", [])}
        named |= {m["method"] for m in finding["evidence"].get("latent", [])}
        if named & outside:
            # its way up runs through Lambda functions or CodeBuild projects, which the file does not hold
            assert from_gaad[resource] == "error", resource
        elif finding["outcome"] == "pass":
            assert from_gaad[resource] in ("pass", "error"), resource
        else:
            assert from_gaad[resource] == finding["outcome"], resource
    assert "error" in from_gaad.values()


def test_boundary_of_a_user_from_a_gaad_file(pytester: pytest.Pytester, tmp_path: Any) -> None:
    """A user boundary (GetAccountAuthorizationDetails reports it; moto does not): removing it is a
    path when the user's own policies are administrator; a boundary that allows nothing of it stops
    every method; a boundary whose document is not in the file leaves the user unjudged (error)."""
    from conftest import run_audit

    def policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
        document = {"Version": "2012-10-17", "Statement": statements}
        return {
            "PolicyName": name,
            "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
            "DefaultVersionId": "v1",
            "AttachmentCount": 0,
            "PolicyVersionList": [{"VersionId": "v1", "IsDefaultVersion": True, "Document": document}],
        }

    def user(name: str, boundary: str) -> dict[str, Any]:
        return {
            "UserName": name,
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "UserPolicyList": [{"PolicyName": "admin", "PolicyDocument": ADMIN_DOC}],
            "PermissionsBoundary": {
                "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/{boundary}",
            },
        }

    removal = ["iam:DeleteUserPermissionsBoundary"]
    gaad = {
        "UserDetailList": [user("unbound-me", "self-removal"), user("bounded", "s3-read"), user("unknown", "gone")],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [
            policy("self-removal", [{"Effect": "Allow", "Action": removal, "Resource": "*"}]),
            policy("s3-read", WEAK_DOC["Statement"]),
        ],
    }
    path = tmp_path / "gaad.json"
    path.write_text(json.dumps(gaad))
    result = run_audit(pytester, "--snapshot", str(path), "-k", RULE)
    assert result.outcomes(RULE) == {"user/unbound-me": "fail", "user/bounded": "pass", "user/unknown": "error"}
    step = result.finding(RULE, "user/unbound-me")["evidence"]["path"][0]
    assert step["method"] == "iam-delete-user-permissions-boundary"
    assert "gone" in result.finding(RULE, "user/unknown")["message"]
