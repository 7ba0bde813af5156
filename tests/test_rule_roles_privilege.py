"""AMS-SHARED-*, AMS-EXEC-*, AMS-PRIV-*, AMS-LINT-001 against a moto account."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ACCOUNT, OTHER_ACCOUNT, Account, Audit

from ams_iam_audit.aimodelshare import (
    BOUNDARY_PATH,
    EXECUTION_ROLE_NAME,
    execution_role_trust,
    library_template,
    shared_roles,
)
from ams_iam_audit.analysis import methods

LAMBDA = "lambda.amazonaws.com"


def trust(principal: Any, **extra: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}],
    }


def provision_shared_roles(aws: Account, *, boundary: bool = True) -> None:
    """The shared roles in their desired state: role, trust, policy and (``boundary``) the
    desired-state permissions boundary ``--fix`` sets (AMS-SHARED-004)."""
    for spec in shared_roles():
        arn = aws.policy(spec.policy_name, document=spec.policy_for(ACCOUNT))
        aws.role(spec.role_name, dict(spec.trust), arn)
        if boundary:
            aws.iam.create_policy(
                PolicyName=spec.boundary_name,
                Path=BOUNDARY_PATH,
                PolicyDocument=json.dumps(spec.policy_for(ACCOUNT)),
            )
            aws.iam.put_role_permissions_boundary(
                RoleName=spec.role_name, PermissionsBoundary=spec.boundary_arn("aws", ACCOUNT)
            )


def provision_desired_state(aws: Account, *, boundary: bool = True) -> None:
    """A fully migrated account: the shared roles as we ship them (see ``provision_shared_roles``),
    the execution role as ``--fix`` writes it (migration step 1: without one, AMS-EXEC-* are not
    assessed), a trail logging every management event (AMS-TRAIL-001 judges the account) and a support
    role (AMS-ACCT-002)."""
    provision_shared_roles(aws, boundary=boundary)
    aws.trail()
    aws.support_role()
    people_and_ci = [f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:role/ci-runner"]
    aws.role(EXECUTION_ROLE_NAME, execution_role_trust(people_and_ci, ACCOUNT))


def test_desired_state_passes_every_rule(aws: Account, audit: Audit) -> None:
    """The shared roles as we ship them must pass our own audit, every rule of it."""
    provision_desired_state(aws)

    result = audit()

    assert result.ret == 0, result.stdout
    judged = {f["rule_id"] for f in result.findings if f["outcome"] == "pass"}
    assert {
        "AMS-SHARED-001",
        "AMS-SHARED-002",
        "AMS-SHARED-003",
        "AMS-S3-001",
        "AMS-S3-002",
        "AMS-PRIV-001",
        "AMS-PRIV-002",
        "AMS-PRIV-003",
        "AMS-LINT-001",
        "AMS-EXEC-001",
        "AMS-EXEC-002",
    } <= judged
    assert not [f for f in result.findings if f["outcome"] in ("fail", "error")]


def test_shared_roles_drift(aws: Account, audit: Audit) -> None:
    specs = {s.role_name: s for s in shared_roles()}
    codebuild = specs["aimodelshare-codebuild-role"]
    # Same permissions, other shape: statements reversed, one-element lists as strings, Sids changed.
    reshaped = codebuild.policy_for(ACCOUNT)
    statements = list(reversed(reshaped["Statement"]))
    for statement in statements:
        statement["Sid"] = "Changed" + str(statement.get("Sid"))
        if isinstance(statement["Action"], list) and len(statement["Action"]) == 1:
            statement["Action"] = statement["Action"][0].upper()
    aws.role(
        codebuild.role_name,
        dict(codebuild.trust),
        aws.policy(codebuild.policy_name, document={"Version": "2012-10-17", "Statement": statements}),
    )
    # Refactored library's policy (drifted) and a trust that also admits API Gateway.
    lambda_exec = specs["aimodelshare-lambda-exec"]
    aws.role(
        lambda_exec.role_name,
        trust({"Service": [LAMBDA, "apigateway.amazonaws.com"]}),
        aws.policy(lambda_exec.policy_name, document=library_template("refactored", "iam_lambda_policy")),
    )
    # Right policy, plus something broader beside it, and a harmless subset.
    api = specs["aimodelshare-api-lambda-role"]
    aws.role(
        api.role_name,
        dict(api.trust),
        aws.policy(api.policy_name, document=api.policy_for(ACCOUNT)),
        aws.policy("extra-admin", {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
    )
    invoke = specs["aimodelshare-apigw-invoke-role"]
    aws.role(invoke.role_name, dict(invoke.trust), aws.policy(invoke.policy_name, document=invoke.policy_for(ACCOUNT)))
    aws.iam.put_role_policy(
        RoleName=invoke.role_name,
        PolicyName="subset",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:modfunction1",
                    }
                ],
            }
        ),
    )

    result = audit("-m", "shared_roles")

    assert result.outcomes("AMS-SHARED-001") == {
        "role/aimodelshare-codebuild-role": "pass",
        "role/aimodelshare-lambda-exec": "fail",
        "role/aimodelshare-api-lambda-role": "pass",
        "role/aimodelshare-apigw-invoke-role": "pass",
    }
    assert result.outcomes("AMS-SHARED-002") == {
        "role/aimodelshare-codebuild-role": "pass",
        "role/aimodelshare-lambda-exec": "fail",
        "role/aimodelshare-api-lambda-role": "pass",
        "role/aimodelshare-apigw-invoke-role": "pass",
    }
    assert result.outcomes("AMS-SHARED-003") == {
        "role/aimodelshare-codebuild-role": "pass",
        "role/aimodelshare-lambda-exec": "pass",
        "role/aimodelshare-api-lambda-role": "fail",
        "role/aimodelshare-apigw-invoke-role": "pass",
    }
    trust_finding = result.finding("AMS-SHARED-001", "role/aimodelshare-lambda-exec")
    assert "apigateway.amazonaws.com" in trust_finding["message"]
    drift = result.finding("AMS-SHARED-002", "role/aimodelshare-lambda-exec")["evidence"]
    assert {"Action": ["logs:*"], "Effect": "Allow", "Resource": ["*"]} in drift["statements_not_in_desired_state"]
    broader = result.finding("AMS-SHARED-003", "role/aimodelshare-api-lambda-role")["evidence"]["extra_policies"]
    assert broader[0]["policy"] == "policy/extra-admin"


def test_shared_roles_missing_and_not_applicable(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")  # the account uses the library
    result = audit("-m", "shared_roles")
    assert set(result.outcomes("AMS-SHARED-001").values()) == {"fail"}
    assert set(result.outcomes("AMS-SHARED-002").values()) == {"not-applicable"}
    assert result.ret == 1


def test_shared_roles_not_applicable_without_the_library(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="alice")
    result = audit("-m", "shared_roles")
    assert result.outcomes("AMS-SHARED-001") == {"not-applicable": "not-applicable"}
    assert result.ret == 0


def test_execution_role(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="ci")
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    cases = {
        "exec-good": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/ci"}, Condition=mfa),
        "exec-guide-step-1": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/ci"}),  # a person, no MFA
        "exec-star": trust("*"),
        "exec-aws-star": trust({"AWS": "*"}),
        "exec-foreign-root": trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}),
        "exec-foreign-id": trust({"AWS": OTHER_ACCOUNT}),
        "exec-foreign-external-id": trust(
            {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, Condition={"StringEquals": {"sts:ExternalId": "x-123"}}
        ),
        "exec-foreign-named-role": trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:role/deployer"}),
        "exec-admin": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci-runner"}),
    }
    for name, document in cases.items():
        aws.role(name, document)
    aws.iam.put_role_policy(
        RoleName="exec-admin",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
        ),
    )
    aws.role(
        "exec-iam-star",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci-runner"}),
        aws.policy("iam-star", {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}),
    )

    outcomes: dict[str, tuple[str, str]] = {}
    for name in [*cases, "exec-iam-star", "exec-missing"]:
        result = audit("-m", "execution_role", "--aws-execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/{name}")
        outcomes[name] = (result.findings[0]["outcome"], result.findings[1]["outcome"])
    assert outcomes == {
        "exec-good": ("pass", "pass"),
        "exec-guide-step-1": ("fail", "pass"),
        "exec-star": ("fail", "pass"),
        "exec-aws-star": ("fail", "pass"),
        "exec-foreign-root": ("fail", "pass"),
        "exec-foreign-id": ("fail", "pass"),
        "exec-foreign-external-id": ("pass", "pass"),
        "exec-foreign-named-role": ("pass", "pass"),
        "exec-admin": ("pass", "fail"),
        "exec-iam-star": ("pass", "fail"),
        "exec-missing": ("fail", "not-applicable"),
    }
    foreign = audit("-m", "execution_role", "--aws-execution-role-arn", f"arn:aws:iam::{OTHER_ACCOUNT}:role/x")
    assert {f["outcome"] for f in foreign.findings} == {"error"}
    assert OTHER_ACCOUNT in foreign.findings[0]["message"]
    none_given = audit("-m", "execution_role")
    assert {f["outcome"] for f in none_given.findings} == {"not-applicable"}


def test_execution_role_from_environment(aws: Account, audit: Audit, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.role("from-env", trust("*"))
    monkeypatch.setenv("AIMODELSHARE_EXECUTION_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/from-env")
    # The role is also assumed (the library's convention); moto allows it, and it is the same account.
    result = audit("-k", "AMS-EXEC-001")
    assert result.outcomes("AMS-EXEC-001") == {"role/from-env": "fail"}


def test_privilege_rules(aws: Account, audit: Audit) -> None:
    def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}

    every_role = "arn:aws:iam::*:role/*"
    cases = {
        "star-star": [allow("*")],
        "iam-star": [allow("iam:*")],
        "notaction-admin": [{"Effect": "Allow", "NotAction": ["s3:*", "ec2:*"], "Resource": "*"}],
        "iam-star-one-role": [allow("iam:*", f"arn:aws:iam::{ACCOUNT}:role/one")],
        "iam-read": [allow(["iam:Get*", "iam:List*"])],
        "pass-role-anywhere": [allow(["iam:PassRole", "ec2:RunInstances"])],
        "pass-role-mixed-case": [allow("IAM:passrole", every_role), allow("EC2:runinstances")],
        "pass-role-alone": [allow("iam:PassRole")],  # no service it drives accepts the role
        "pass-role-to-lambda": [allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": LAMBDA}})],
        "pass-role-named": [allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/aimodelshare-lambda-exec")],
        "put-role-policy-all-roles": [allow(["iam:CreateRole", "iam:PutRolePolicy"], every_role)],
        "put-role-policy-bounded": [
            allow(
                ["iam:CreateRole", "iam:PutRolePolicy"],
                every_role,
                Condition={"StringEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/boundary"}},
            )
        ],
        "attach-partial-wildcard": [allow("iam:Attach*", every_role)],
        "deny-removes-escalation": [
            allow("iam:PassRole"),
            {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"},
        ],
    }
    for name, statements in cases.items():
        aws.policy(name, *statements)

    result = audit("-k", "AMS-PRIV-001 or AMS-PRIV-002")

    admin = result.outcomes("AMS-PRIV-001")
    assert {n for n in cases if admin[f"policy/{n}"] == "fail"} == {"star-star", "iam-star", "notaction-admin"}
    escalation = result.outcomes("AMS-PRIV-002")
    assert {n for n in cases if escalation[f"policy/{n}"] == "fail"} == {
        "pass-role-anywhere",
        "pass-role-mixed-case",
        "put-role-policy-all-roles",
        "attach-partial-wildcard",
    }
    evidence = result.finding("AMS-PRIV-002", "policy/put-role-policy-all-roles")["evidence"]
    assert evidence["escalation_methods"] == ["iam-put-role-policy-self", "iam-put-role-policy-assumable"]
    assert evidence["statements"][0]["escalating_actions"] == ["iam:PutRolePolicy"]
    evidence = result.finding("AMS-PRIV-002", "policy/pass-role-mixed-case")["evidence"]
    assert evidence["escalation_methods"] == ["ec2-run-instances-pass-role"]
    assert [s["statement_index"] for s in evidence["statements"]] == [0, 1]


def test_service_wide_wildcards_only_in_aimodelshare_policies(aws: Account, audit: Audit) -> None:
    legacy = aws.policy("lambda_policy_abc", document=library_template("legacy", "iam_lambda_policy"))
    aws.role("lambda_role_abc", None, legacy)
    aws.policy(
        "aimodelshare-api-lambda-policy", {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
    )
    aws.policy("team-lambda-admin", {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"})  # not ours to judge
    result = audit("-k", "AMS-PRIV-003")
    assert result.outcomes("AMS-PRIV-003") == {
        "policy/lambda_policy_abc": "fail",
        "policy/aimodelshare-api-lambda-policy": "pass",
    }
    statement = result.finding("AMS-PRIV-003", "policy/lambda_policy_abc")["evidence"]["statements"]
    assert [s["services"] for s in statement] == [["logs"], ["s3"]]


def test_lint(aws: Account, audit: Audit) -> None:
    aws.policy(
        "temporaryaccessAImodelsharePolicyabc",
        document=library_template("legacy", "bucketpolicy_custom_s3_policy", bucket="aimodelsharebob"),
    )
    aws.policy(
        "aimodelshare-lambda-exec-policy",
        document=next(s for s in shared_roles() if s.role_name == "aimodelshare-lambda-exec").policy_for(ACCOUNT),
    )
    result = audit("-k", "AMS-LINT-001")
    assert result.outcomes("AMS-LINT-001") == {
        "policy/temporaryaccessAImodelsharePolicyabc": "fail",
        "policy/aimodelshare-lambda-exec-policy": "pass",
    }
    issues = {
        i["issue"]
        for i in result.finding("AMS-LINT-001", "policy/temporaryaccessAImodelsharePolicyabc")["evidence"]["lint"]
    }
    assert issues == {"RESOURCE_MISMATCH", "INVALID_ARN"}


def test_privilege_escalation_on_every_kind_of_iam_resource(aws: Account, audit: Audit) -> None:
    """AMS-PRIV-002 judges policy/*, user/* and group/* as it judges role/*; a global condition key
    (aws:*) is not one of the action's own and narrows nothing; "*:*" is administrator access."""

    def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}

    cases = {
        "policy-versions": allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/*"),
        "user-policies": allow("iam:PutUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/*"),
        "group-policies": allow("iam:AttachGroupPolicy", f"arn:aws:iam::{ACCOUNT}:group/*"),
        "global-key-condition": allow(
            ["iam:PassRole", "ec2:RunInstances"], Condition={"StringEquals": {"aws:ResourceTag/team": "ml"}}
        ),
        "other-account-users": allow("iam:PutUserPolicy", f"arn:aws:iam::{OTHER_ACCOUNT}:user/*"),
        "one-group": allow("iam:AttachGroupPolicy", f"arn:aws:iam::{ACCOUNT}:group/admins"),
        "star-star": allow("*:*"),
    }
    for name, statement in cases.items():
        aws.policy(name, statement)

    result = audit("-k", "AMS-PRIV-001 or AMS-PRIV-002")

    escalation = result.outcomes("AMS-PRIV-002")
    assert {n for n in cases if escalation[f"policy/{n}"] == "fail"} == {
        "policy-versions",
        "user-policies",
        "group-policies",
        "global-key-condition",
    }
    evidence = result.finding("AMS-PRIV-002", "policy/group-policies")["evidence"]["statements"][0]
    assert evidence["escalating_actions"] == ["iam:AttachGroupPolicy"]
    admin = result.outcomes("AMS-PRIV-001")
    assert {n for n in cases if admin[f"policy/{n}"] == "fail"} == {"star-star"}


def test_privilege_escalation_names_every_catalogue_method(aws: Account, audit: Audit) -> None:
    """For every method of the escalation catalogue, a policy granting exactly its actions (the first
    of each need's alternatives, on every resource) fails AMS-PRIV-002 naming that method: the same
    id AMS-PRIV-004 gives a principal's path."""
    catalogue = methods()
    for m in catalogue:
        aws.policy(f"exactly-{m.id}", {"Effect": "Allow", "Action": [n.actions[0] for n in m.needs], "Resource": "*"})
    result = audit("-k", "AMS-PRIV-002")
    outcomes = result.outcomes("AMS-PRIV-002")
    for m in catalogue:
        label = f"policy/exactly-{m.id}"
        assert outcomes[label] == "fail", m.id
        evidence = result.finding("AMS-PRIV-002", label)["evidence"]
        assert m.id in evidence["escalation_methods"], (m.id, evidence["escalation_methods"])
        (statement,) = evidence["statements"]
        assert {a.lower() for a in statement["escalating_actions"]} >= {n.actions[0] for n in m.needs}
