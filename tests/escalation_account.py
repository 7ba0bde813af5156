"""The catalogue account: for every method of ``data/escalation_methods.json``, one principal with the
least the method needs and an administrator target, plus near misses (the same grants denied in a
second statement, aimed at a resource that is no target, narrowed by a condition that certainly
excludes what the method needs, cut by a permissions boundary). Seeded over HTTP into a moto account;
used by tests/test_escalation.py and by bench/escalation_recall.py (recall and false positives side by
side with peers)."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from conftest import ACCOUNT, Account

from ams_iam_audit.analysis import Method, methods

ADMIN_DOC: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
WEAK_DOC: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def trust_doc(*, service: str | None = None, aws: str | None = None) -> dict[str, Any]:
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
        extra: dict[str, Any] = {"PermissionsBoundary": boundary} if boundary else {}
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
            self.role(f"admin-for-{service.split('.')[0]}", trust_doc(service=service), admin=True)
        self.role("admin-for-ec2", trust_doc(service="ec2.amazonaws.com"), admin=True)
        self.iam.create_instance_profile(InstanceProfileName="admin-profile")
        self.iam.add_role_to_instance_profile(InstanceProfileName="admin-profile", RoleName="admin-for-ec2")
        self.role("admin-any", trust_doc(aws=f"arn:aws:iam::{ACCOUNT}:user/nobody"), admin=True)
        self.iam.create_user(UserName="admin-user")
        self.iam.attach_user_policy(UserName="admin-user", PolicyArn=self.admin_arn)
        # a console password: the target of iam:UpdateLoginProfile (the credential report says who has one)
        self.iam.create_login_profile(UserName="admin-user", Password="moto-only-Example-1")
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
        self.aws.client("ec2").run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
            IamInstanceProfile={"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/admin-profile"},
        )  # fmt: skip
        self.aws.client("cloudformation").create_stack(
            StackName="privileged-stack",
            TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
            RoleARN=f"arn:aws:iam::{ACCOUNT}:role/admin-for-cloudformation",
        )
        self.aws.client("glue").create_dev_endpoint(
            EndpointName="privileged-endpoint", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/admin-for-glue"
        )
        self.aws.client("sagemaker").create_notebook_instance(
            NotebookInstanceName="privileged-notebook",
            InstanceType="ml.t2.medium",
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/admin-for-sagemaker",
        )

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
            arn = self.role(name, trust_doc(service="ec2.amazonaws.com"), admin=False, boundary=boundary)
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
            self.role(f"{name}-target", trust_doc(aws=trusted), admin=method.id == "sts-assume-role")
        return arn


#: Where a method's actions on new resources are granted: roles it creates are named new-*, so its
#: sts:AssumeRole does not also reach the other principals' targets.
_NEW = {"iam-create-role-and-assume": f"arn:aws:iam::{ACCOUNT}:role/new-*"}


def grants_for(
    method: Method, *, on_target: str = "*", condition: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
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
        seeder.principal(name, method, grants_for(method), boundary=bound)
        expected[f"{method.principal_kind or 'user'}/{name}"] = Expect(method.id, near_miss=False)
        # the first action denied in a second statement
        denial = {"Effect": "Deny", "Action": list(method.needs[0].actions), "Resource": "*"}
        near_miss("n-deny", method, [*grants_for(method), denial])
        # the target-bound actions aimed at something that is no target (a role to assume is then
        # one that trusts the account, so the identity grant is what decides)
        if any(n.on_target for n in method.needs) and method.target != "self":
            aside = grants_for(method, on_target=f"arn:aws:iam::{ACCOUNT}:role/no-such-target")
            near_miss("n-aside", method, aside, trust_account=True)
        # a condition that certainly excludes what the method needs
        condition = _narrowing(method, seeder)
        if condition is not None:
            near_miss("n-cond", method, grants_for(method, condition=condition))
        # a permissions boundary that allows none of it (moto reports the boundaries of roles)
        if method.principal_kind == "role":
            near_miss("n-bound", method, grants_for(method), boundary=seeder.boundary_arn)
    return expected
