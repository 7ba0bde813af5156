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

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT, Account, Audit
from escalation_account import ADMIN_DOC, WEAK_DOC, Expect, Seeder, grants_for, seed_catalogue, trust_doc

from ams_iam_audit.analysis import methods
from ams_iam_audit.analysis.catalogue import RESOURCE_TARGETS

RULE = "AMS-PRIV-004"


@pytest.fixture
def catalogue_account(aws: Account) -> dict[str, Expect]:
    return seed_catalogue(aws)


def _judged(result: Any) -> dict[str, dict[str, Any]]:
    """resource -> its finding; a principal the rule's examined case stands for (no path, nothing
    latent, nothing unjudged) -> that passing finding."""
    return {resource: result.finding(RULE, resource) for resource in result.outcomes(RULE)}


def test_every_method_is_found_and_no_near_miss_is_found_by_it(
    catalogue_account: dict[str, Expect], audit: Audit
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


def test_the_path_names_each_statement_that_allows_each_step(
    catalogue_account: dict[str, Expect], audit: Audit
) -> None:
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


def test_without_targets_the_methods_are_latent(aws: Account, audit: Audit) -> None:
    seeder = Seeder(aws)
    latent = [
        m for m in methods() if m.target in ("role_for_service", "role_for_ec2", "function", "project", "any_role")
    ]
    for method in latent:
        seeder.principal(f"m-{method.id}"[:60], method, grants_for(method))
    judged = _judged(audit("-k", RULE))
    for method in latent:
        finding = judged[f"user/m-{method.id}"[:65]]
        assert finding["outcome"] == "fail", method.id
        assert finding["severity"] == "medium", method.id
        assert method.id in [entry["method"] for entry in finding["evidence"]["latent"]]


def test_a_chain_of_three_roles_is_one_path_in_order_and_a_trust_loop_ends(aws: Account, audit: Audit) -> None:
    seeder = Seeder(aws)
    user = str(aws.iam.create_user(UserName="dev")["User"]["Arn"])
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    aws.iam.put_user_policy(UserName="dev", PolicyName="assume", PolicyDocument=json.dumps(assume))
    first = seeder.role("hop-1", trust_doc(aws=user), admin=False)
    aws.iam.put_role_policy(RoleName="hop-1", PolicyName="assume", PolicyDocument=json.dumps(assume))
    second = seeder.role("hop-2", trust_doc(aws=first), admin=False)
    aws.iam.put_role_policy(RoleName="hop-2", PolicyName="assume", PolicyDocument=json.dumps(assume))
    seeder.role("hop-3-admin", trust_doc(aws=second), admin=True)
    # a loop of two weak roles that trust each other, and a user that can enter it
    loop_a = seeder.role("loop-a", trust_doc(aws=f"arn:aws:iam::{ACCOUNT}:role/loop-b"), admin=False)
    aws.iam.create_role(RoleName="loop-b", AssumeRolePolicyDocument=json.dumps(trust_doc(aws=loop_a)))
    looper = str(aws.iam.create_user(UserName="looper")["User"]["Arn"])
    aws.iam.update_assume_role_policy(RoleName="loop-a", PolicyDocument=json.dumps(trust_doc(aws=looper)))
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


def test_a_combination_split_over_two_policies_and_a_deny_in_a_third(aws: Account, audit: Audit) -> None:
    seeder = Seeder(aws)
    seeder.role("admin-for-ec2", trust_doc(service="ec2.amazonaws.com"), admin=True)
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
    catalogue_account: dict[str, Expect], audit: Audit, aws: Account, tmp_path: Path
) -> None:
    snapshot = tmp_path / "account.snapshot.json"
    live = audit("-k", RULE, "--save-snapshot", str(snapshot))
    offline = audit("-k", RULE, "--snapshot", str(snapshot))
    assert live.outcomes(RULE) == offline.outcomes(RULE)

    pages: list[Mapping[str, Any]] = list(aws.iam.get_paginator("get_account_authorization_details").paginate())
    gaad = {
        k: [i for p in pages for i in p.get(k, [])]
        for k in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    }
    raw = tmp_path / "gaad.json"
    raw.write_text(json.dumps(gaad, default=str))
    from_gaad = audit("-k", RULE, "--snapshot", str(raw)).outcomes(RULE)
    outside = {m.id for m in methods() if m.target in RESOURCE_TARGETS}
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


def test_boundary_of_a_user_from_a_gaad_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
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
