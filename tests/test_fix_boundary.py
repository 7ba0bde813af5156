"""Tightening that lasts (issue 16): the desired-state permissions boundary on each shared role
(AMS-SHARED-004, set by ``--fix``) and a shared policy widened again by a deployment after a fix
(AMS-SHARED-005, from the policy's version history). Against the test's moto server."""

from __future__ import annotations

import json

import pytest
from aws_proxy import proxy_to
from conftest import ACCOUNT, Account, Audit
from moto_gaps import all_gaps
from test_fix import fix, journal_of, writes
from test_rule_roles_privilege import provision_desired_state, provision_shared_roles

from ams_iam_audit import iam_utils
from ams_iam_audit.aimodelshare import BOUNDARY_PATH, SharedRole, library_template, shared_role
from ams_iam_audit.cli import main as cli


def _codebuild() -> SharedRole:
    role = shared_role("aimodelshare-codebuild-role")
    assert role is not None, "aimodelshare-codebuild-role is no longer a shared role"
    return role


CODEBUILD = _codebuild()
ROLE = f"role/{CODEBUILD.role_name}"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{CODEBUILD.policy_name}"
BOUNDARY_ARN = CODEBUILD.boundary_arn("aws", ACCOUNT)
#: what the refactored library passes to ensure_managed_policy on every deployment
LIBRARY_DOCUMENT = library_template("refactored", "iam_codebuild_policy")


def boundary_of(aws: Account, role: str) -> str | None:
    found = aws.iam.get_role(RoleName=role)["Role"].get("PermissionsBoundary") or {}
    return found.get("PermissionsBoundaryArn")


def deploy(aws: Account) -> None:
    """What a deployment of the refactored library does to the shared CodeBuild policy."""
    iam_utils.ensure_managed_policy(aws.iam, CODEBUILD.policy_name, LIBRARY_DOCUMENT, account_id=ACCOUNT)


def versions(aws: Account) -> list[str]:
    return [v["VersionId"] for v in aws.iam.list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]]


# --- AMS-SHARED-004 -----------------------------------------------------------------------------------


def test_a_shared_role_without_the_boundary_fails_and_fix_sets_it(
    pytester: pytest.Pytester, aws: Account, audit: Audit
) -> None:
    provision_desired_state(aws, boundary=False)
    before = audit()
    outcomes = before.outcomes("AMS-SHARED-004")
    assert set(outcomes.values()) == {"fail"}
    assert len(outcomes) == 4
    assert "has no permissions boundary" in before.finding("AMS-SHARED-004", ROLE)["message"]
    assert before.outcomes("AMS-SHARED-002")[ROLE] == "pass"  # the policy itself is as desired

    result, _ = fix(pytester, aws, "--fix")
    assert set(result.outcomes("AMS-SHARED-004").values()) == {"fixed"}
    assert boundary_of(aws, CODEBUILD.role_name) == BOUNDARY_ARN
    document = aws.iam.get_policy_version(
        PolicyArn=BOUNDARY_ARN, VersionId=aws.iam.get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]["DefaultVersionId"]
    )["PolicyVersion"]["Document"]
    assert iam_utils.policy_hash(document) == iam_utils.policy_hash(CODEBUILD.policy_for(ACCOUNT))

    # the boundary's own document passes every rule, and a second --fix changes nothing
    again, requests = fix(pytester, aws, "--fix")
    assert not [f for f in again.findings if f["outcome"] in ("fail", "error")]
    assert writes(requests) == ["CreatePolicy", "DeletePolicy"]  # the lock, taken and released


def test_undo_removes_the_boundary(pytester: pytest.Pytester, aws: Account, capsys: pytest.CaptureFixture[str]) -> None:
    provision_shared_roles(aws, boundary=False)
    result, _ = fix(pytester, aws, "--fix")
    assert boundary_of(aws, CODEBUILD.role_name) == BOUNDARY_ARN
    with proxy_to(aws.url, *all_gaps()) as proxy:
        status = cli(["undo", str(journal_of(result)), "--aws-account", ACCOUNT, "--aws-endpoint-url", proxy.url])
    assert status == 0, capsys.readouterr().out
    assert boundary_of(aws, CODEBUILD.role_name) is None


def test_an_operators_own_boundary_is_a_finding_fix_leaves_alone(pytester: pytest.Pytester, aws: Account) -> None:
    provision_shared_roles(aws, boundary=False)
    theirs = aws.policy("platform-boundary", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    aws.iam.put_role_permissions_boundary(RoleName=CODEBUILD.role_name, PermissionsBoundary=theirs)
    result, _ = fix(pytester, aws, "--fix")
    finding = result.finding("AMS-SHARED-004", ROLE)
    assert finding["outcome"] == "fail"
    assert f"permissions boundary is {theirs}, not the desired state's" in finding["message"]
    assert "--fix never replaces an operator's boundary" in finding["message"]
    assert boundary_of(aws, CODEBUILD.role_name) == theirs
    assert result.finding("AMS-SHARED-004", "role/aimodelshare-lambda-exec")["outcome"] == "fixed"


def test_a_boundary_that_no_longer_holds_the_desired_state_fails(aws: Account, audit: Audit) -> None:
    provision_shared_roles(aws)
    aws.iam.create_policy_version(
        PolicyArn=BOUNDARY_ARN, PolicyDocument=json.dumps(LIBRARY_DOCUMENT), SetAsDefault=True
    )
    result = audit()
    assert result.outcomes("AMS-SHARED-004") == {
        ROLE: "fail",
        "role/aimodelshare-lambda-exec": "pass",
        "role/aimodelshare-api-lambda-role": "pass",
        "role/aimodelshare-apigw-invoke-role": "pass",
    }
    assert "no longer holds the desired state (version v2)" in result.finding("AMS-SHARED-004", ROLE)["message"]


def test_the_boundary_path_is_one_the_library_never_writes() -> None:
    assert f"arn:aws:iam::{ACCOUNT}:policy{BOUNDARY_PATH}aimodelshare-codebuild-role-boundary" == BOUNDARY_ARN
    assert BOUNDARY_PATH == "/ams-iam-audit/"


# --- AMS-SHARED-005 -----------------------------------------------------------------------------------


def test_a_policy_widened_again_after_a_fix_is_explained(aws: Account, audit: Audit) -> None:
    provision_shared_roles(aws, boundary=False)  # v1: the desired state, as --fix left it
    deploy(aws)  # v2: the library's broader document
    result = audit()
    finding = result.finding("AMS-SHARED-005", ROLE)
    assert finding["outcome"] == "fail"
    message = finding["message"]
    assert "aimodelshare-codebuild-policy was widened again by a deployment at " in message
    assert "(version v2) after ams-iam-audit tightened it at " in message
    assert "(version v1); aimodelshare-codebuild-role has no desired-state boundary" in message
    evidence = finding["evidence"]
    assert (evidence["tightened_version"], evidence["widened_version"], evidence["boundary_in_place"]) == (
        "v1",
        "v2",
        False,
    )
    assert any("iam:*" in json.dumps(s) for s in evidence["statements_beyond_desired"])
    assert result.outcomes("AMS-SHARED-005")["role/aimodelshare-lambda-exec"] == "pass"


def test_with_the_boundary_the_finding_says_it_holds(aws: Account, audit: Audit) -> None:
    provision_shared_roles(aws)
    deploy(aws)
    finding = audit().finding("AMS-SHARED-005", ROLE)
    assert finding["outcome"] == "fail"
    assert (
        f"the boundary {BOUNDARY_ARN} keeps aimodelshare-codebuild-role's effective permissions" in (finding["message"])
    )
    assert finding["evidence"]["boundary_in_place"] is True


def test_fix_tightens_again_and_the_next_deploy_is_caught(
    pytester: pytest.Pytester, aws: Account, audit: Audit
) -> None:
    provision_shared_roles(aws, boundary=False)
    deploy(aws)
    result, _ = fix(pytester, aws, "--fix")
    assert result.finding("AMS-SHARED-005", ROLE)["outcome"] == "fixed"
    assert result.finding("AMS-SHARED-002", ROLE)["outcome"] == "fixed"
    default = aws.iam.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    assert default == "v1"  # the desired version made the default again, not a copy of it
    assert boundary_of(aws, CODEBUILD.role_name) == BOUNDARY_ARN
    deploy(aws)  # the library's next deployment: ensure_role and ensure_managed_policy as it calls them
    iam_utils.ensure_role(aws.iam, CODEBUILD.role_name, dict(CODEBUILD.trust), CODEBUILD.description)
    assert boundary_of(aws, CODEBUILD.role_name) == BOUNDARY_ARN  # ensure_role leaves it alone
    finding = audit().finding("AMS-SHARED-005", ROLE)
    assert "(version v2) after ams-iam-audit tightened it at" in finding["message"]
    assert "(version v1); the boundary" in finding["message"]
    assert sorted(versions(aws)) == ["v1", "v2"]


@pytest.mark.parametrize(
    ("history", "outcome"),
    [
        pytest.param(["library", "desired"], "pass", id="widened-before-the-fix-only"),
        pytest.param(["library"], "pass", id="never-tightened"),
        pytest.param(["desired", "narrower"], "pass", id="narrowed-after-the-fix"),
        pytest.param(["desired", "library", "desired"], "pass", id="fixed-again"),
        pytest.param(["desired", "narrower", "library"], "fail", id="widened-later"),
        pytest.param(["desired", "reshaped-wider"], "fail", id="one-statement-more"),
    ],
)
def test_version_histories(aws: Account, audit: Audit, history: list[str], outcome: str) -> None:
    desired = CODEBUILD.policy_for(ACCOUNT)
    documents = {
        "desired": desired,
        "library": LIBRARY_DOCUMENT,
        "narrower": {"Version": "2012-10-17", "Statement": desired["Statement"][:2]},
        "reshaped-wider": {
            "Version": "2012-10-17",
            "Statement": [
                *desired["Statement"],
                {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
            ],
        },
    }
    arn = aws.policy(CODEBUILD.policy_name, document=documents[history[0]])
    for name in history[1:]:
        aws.iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(documents[name]), SetAsDefault=True)
    aws.role(CODEBUILD.role_name, dict(CODEBUILD.trust), arn)
    assert audit().outcomes("AMS-SHARED-005")[ROLE] == outcome
