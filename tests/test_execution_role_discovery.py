"""The execution role: discovered when nobody names it, "not assessed" (an error naming the option)
when it cannot be told, and who may assume it (people need MFA), against moto and as fast verdicts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from conftest import ACCOUNT, OTHER_ACCOUNT, Account, Audit
from rule_functions import RULES, judge, load_rules
from test_rule_verdicts_principals import inventory as inventory_of

from ams_iam_audit import AuditContext, Evidence, ExecutionRoleRef, InlinePolicy, Role
from ams_iam_audit.aimodelshare import EXECUTION_TEMPLATE, library_template
from ams_iam_audit.analysis.execution_roles import discover, execution_permissions
from ams_iam_audit.remediate.journal import read_journal

USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
#: the library's refactoring guide, migration step 1: a user, no condition
GUIDE_STEP_1 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(autouse=True, scope="module")
def _rule_modules(pytestconfig: pytest.Config) -> None:
    load_rules(pytestconfig)


def trust(principal: Any, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", **extra}
    return {"Version": "2012-10-17", "Statement": [statement]}


def execution_policy() -> dict[str, Any]:
    return library_template("refactored", EXECUTION_TEMPLATE, bucket="aimodelshare-alice")


# --- who may assume it: fast verdicts -------------------------------------------------------------


def exec_001(document: dict[str, Any]) -> tuple[str, Evidence, str]:
    execution = Role("exec", f"arn:aws:iam::{ACCOUNT}:role/exec", "/", None, document)
    inventory = inventory_of(roles=(execution,))
    ref = ExecutionRoleRef(arn=execution.arn, role=execution)
    return judge(lambda e: RULES["exec"].test_execution_role_trust(ref, e, AuditContext(inventory=inventory)))


def step_1_with_deny(condition: dict[str, Any], principal: Any = "*") -> dict[str, Any]:
    """The guide's trust plus a Deny of sts:AssumeRole to ``principal`` under ``condition``."""
    deny = {"Effect": "Deny", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", "Condition": condition}
    return {**GUIDE_STEP_1, "Statement": [*GUIDE_STEP_1["Statement"], deny]}


NO_MFA = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(GUIDE_STEP_1, "fail", id="guide-step-1"),
        pytest.param(trust(USER, Condition=MFA), "pass", id="bool-true"),
        pytest.param(trust(USER, Condition={"Bool": {"aws:MultiFactorAuthPresent": True}}), "pass", id="json-true"),
        pytest.param(trust(USER, Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}), "pass", id="age"),
        pytest.param(
            trust(USER, Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}), "fail", id="ifexists"
        ),
        pytest.param(trust(USER, Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}), "fail", id="bool-false"),
        pytest.param(
            trust(USER, Condition={"Bool": {"aws:MultiFactorAuthPresent": ["true", "false"]}}), "fail", id="both"
        ),
        pytest.param(
            trust(USER, Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "1"}}), "fail", id="age-minimum"
        ),
        pytest.param(
            trust(USER, Condition={"NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}),
            "fail",
            id="age-ifexists",
        ),
        pytest.param(
            trust(USER, Condition={"Null": {"aws:MultiFactorAuthPresent": "false"}}), "fail", id="null-only-presence"
        ),
        pytest.param(
            trust(USER, Condition={"StringEquals": {"aws:SourceIp": "203.0.113.7"}}), "fail", id="unrelated-condition"
        ),
        pytest.param(trust(f"arn:aws:iam::{ACCOUNT}:root"), "fail", id="own-root"),
        pytest.param(trust(ACCOUNT), "fail", id="own-account-id"),
        pytest.param(trust("AIDAEXAMPLEUSERID0001"), "fail", id="deleted-user-unique-id"),
        pytest.param(trust(f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob"), "fail", id="foreign-user"),
        pytest.param(trust(f"arn:aws:iam::{ACCOUNT}:role/ci-runner"), "pass", id="a-role-is-no-person"),
        pytest.param(trust([f"arn:aws:iam::{ACCOUNT}:role/ci", USER]), "fail", id="role-and-user"),
        pytest.param(step_1_with_deny(NO_MFA), "pass", id="deny-boolifexists-false"),
        pytest.param(
            step_1_with_deny({"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
            "fail",
            id="deny-bool-false-misses-long-term-keys",
        ),
        pytest.param(
            step_1_with_deny({**NO_MFA, "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}),
            "fail",
            id="deny-narrowed-by-another-condition",
        ),
        pytest.param(
            step_1_with_deny(NO_MFA, f"arn:aws:iam::{ACCOUNT}:user/eve"), "fail", id="deny-for-someone-else"
        ),
    ],
)  # fmt: skip
def test_people_may_assume_the_execution_role_only_with_mfa(document: dict[str, Any], expected: str) -> None:
    outcome, _, message = exec_001(document)
    assert outcome == expected, message


def test_mfa_finding_names_the_person_and_the_condition_set_aside() -> None:
    if_exists = {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}
    outcome, evidence, message = exec_001(trust(USER, Condition=if_exists))
    assert outcome == "fail"
    assert USER in message
    assert "without MFA" in message
    reasons = [c["reason"] for c in evidence.items["conditions_set_aside"]]
    assert any("also passes when the request has no aws:multifactorauthpresent" in r for r in reasons), reasons


# --- discovery, against moto ----------------------------------------------------------------------


def test_execution_permissions_come_from_the_library_template() -> None:
    named, services = execution_permissions()
    assert {"s3:getobject", "s3:putobject", "s3:deleteobject", "iam:passrole", "sts:getcalleridentity"} <= named
    assert services == {"lambda", "apigateway"}


def _ai_user(aws: Account) -> None:
    """A sign of the library in the account (its legacy ephemeral user)."""
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")


def test_one_named_role_is_discovered_and_judged(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    aws.role("aimodelshare-execution-role", GUIDE_STEP_1)
    result = audit("-m", "execution_role")
    finding = result.finding("AMS-EXEC-001", "role/aimodelshare-execution-role")
    assert finding["outcome"] == "fail"  # the guide's own trust: a person without MFA
    assert finding["evidence"]["execution_role_source"] == "discovered"
    assert any("named aimodelshare-execution-role" in r for r in finding["evidence"]["discovered_because"])
    assert result.finding("AMS-EXEC-002", "role/aimodelshare-execution-role")["outcome"] == "pass"
    assert result.ret == 1


def test_a_role_holding_the_library_permissions_is_discovered(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    arn = aws.policy("ml-platform-policy", document=execution_policy())
    aws.role("ml-platform", trust(f"arn:aws:iam::{ACCOUNT}:role/ci-runner"), arn)
    # held by a role only services assume: no library session runs as it, so no candidate
    aws.role("lambda-with-same-policy", None, arn)
    result = audit("-m", "execution_role")
    assert result.outcomes("AMS-EXEC-001") == {"role/ml-platform": "pass"}
    evidence = result.finding("AMS-EXEC-001", "role/ml-platform")["evidence"]
    assert any("execution permissions" in r for r in evidence["discovered_because"])
    assert result.ret == 0


def test_an_administrator_role_is_no_candidate(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    admin = aws.policy("admin", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    aws.role("Admin", trust(USER), admin)
    result = audit("-m", "execution_role")
    assert set(result.outcomes("AMS-EXEC-001").values()) == {"error"}


def test_nothing_found_is_not_assessed_and_fails_the_run(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    result = audit("-m", "execution_role")
    for rule_id in ("AMS-EXEC-001", "AMS-EXEC-002"):
        finding = result.finding(rule_id, "not-assessed")
        assert finding["outcome"] == "error"
        assert "--aws-execution-role-arn" in finding["message"]
        assert "AIMODELSHARE_EXECUTION_ROLE_ARN" in finding["message"]
    assert result.ret == 1  # never 0 for a control nobody assessed


def test_several_candidates_are_not_assessed_and_listed(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    arn = aws.policy("ml-policy", document=execution_policy())
    aws.role("ml-a", trust(f"arn:aws:iam::{ACCOUNT}:role/ci-a"), arn)
    aws.role("ml-b", trust(f"arn:aws:iam::{ACCOUNT}:role/ci-b"), arn)
    result = audit("-m", "execution_role")
    finding = result.finding("AMS-EXEC-001", "not-assessed")
    assert finding["outcome"] == "error"
    assert "2 candidates (ml-a, ml-b)" in finding["message"]
    listed = [c["arn"] for c in finding["evidence"]["execution_role_candidates"]]
    assert listed == [f"arn:aws:iam::{ACCOUNT}:role/ml-a", f"arn:aws:iam::{ACCOUNT}:role/ml-b"]
    assert result.ret == 1
    # a role named (or tagged) as the execution role does not settle it: a clean decoy could stand in
    # front of the role the library uses, and the rules would judge the decoy
    aws.role("aimodelshare-execution-role", trust(f"arn:aws:iam::{ACCOUNT}:role/ci-a"))
    named = audit("-m", "execution_role")
    assert named.outcomes("AMS-EXEC-001") == {"not-assessed": "error"}
    assert (
        "3 candidates (aimodelshare-execution-role, ml-a, ml-b)"
        in named.finding("AMS-EXEC-001", "not-assessed")["message"]
    )


def test_an_account_without_the_library_is_not_applicable(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="alice")
    result = audit("-m", "execution_role")
    assert set(result.outcomes("AMS-EXEC-001").values()) == {"not-applicable"}
    assert result.ret == 0


def test_a_given_role_is_not_replaced_by_discovery(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    aws.role("aimodelshare-execution-role", trust(USER, Condition=MFA))
    aws.role("chosen", trust(f"arn:aws:iam::{ACCOUNT}:role/ci"))
    result = audit("-m", "execution_role", "--aws-execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/chosen")
    assert result.outcomes("AMS-EXEC-001") == {"role/chosen": "pass"}
    assert result.finding("AMS-EXEC-001", "role/chosen")["evidence"]["execution_role_source"] == "given"


def test_discovery_skips_shared_legacy_and_service_roles() -> None:
    document = execution_policy()
    people = trust(f"arn:aws:iam::{ACCOUNT}:role/ci")

    def role(name: str, path: str = "/") -> Role:
        inline = (InlinePolicy("p", document),)
        return Role(name, f"arn:aws:iam::{ACCOUNT}:role{path}{name}", path, None, people, inline)

    roles = (
        role("aimodelshare-codebuild-role"),  # a shared role
        role("codebuild_role"),  # legacy per-build role
        role("AWSServiceRoleForX", "/aws-service-role/x.amazonaws.com/"),
        role("real-exec"),
    )
    inventory = inventory_of(roles=roles)
    found = discover(inventory)
    assert [c.name for c in found.candidates] == ["real-exec"]
    assert found.chosen is not None
    assert found.chosen.name == "real-exec"
    assert json.dumps(found.chosen.describe())  # evidence is plain JSON


# --- --fix: migration step 1 ------------------------------------------------------------------------

CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-runner"


def test_fix_creates_the_execution_role_whose_trust_passes_and_a_second_fix_changes_nothing(
    aws: Account, audit: Audit
) -> None:
    _ai_user(aws)
    trust_args = ("--fix-execution-role-trust", USER, "--fix-execution-role-trust", CI_ROLE)
    dry = audit("-m", "execution_role", "--fix-dry-run", *trust_args)
    plan = json.loads((dry.report_dir / "fix-plan.json").read_text())
    (action,) = [a for a in plan["actions"] if a["kind"] == "ensure-execution-role"]
    assert action["target"] == "role/aimodelshare-execution-role"
    assert [c["describe"].split(" ")[0] for c in action["calls"]] == ["iam:CreateRole"]
    assert "aimodelshare-execution-role" not in {r["RoleName"] for r in aws.iam.list_roles()["Roles"]}

    planned = dry.finding("AMS-EXEC-001", "not-assessed")["evidence"]["planned_fix"]
    assert planned["actions"] == ["ensure-execution-role role/aimodelshare-execution-role"]
    first = audit("-m", "execution_role", "--fix", *trust_args)
    # assessed once the role exists: both rules judge it again in the same run
    for rule_id in ("AMS-EXEC-001", "AMS-EXEC-002"):
        assert first.finding(rule_id, "not-assessed")["outcome"] == "fixed", first.stdout
    assert first.ret == 0
    role: Mapping[str, Any] = aws.iam.get_role(RoleName="aimodelshare-execution-role")["Role"]
    tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
    assert tags["aimodelshare:execution-role"] == "ams-iam-audit --fix"
    statements = {s["Sid"]: s for s in role["AssumeRolePolicyDocument"]["Statement"]}
    assert statements["PeopleWithMfa"]["Principal"]["AWS"] in (USER, [USER])
    assert statements["PeopleWithMfa"]["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert "Condition" not in statements["Roles"]
    journal = read_journal(next(first.report_dir.glob("fix-journal-*.jsonl")))
    (created,) = [e for e in journal.entries if e.call.operation == "create_role"]  # journaled, with its undo
    assert created.action == "ensure-execution-role role/aimodelshare-execution-role"
    assert created.status == "done"

    after = audit("-m", "execution_role")
    assert after.outcomes("AMS-EXEC-001") == {"role/aimodelshare-execution-role": "pass"}
    because = after.finding("AMS-EXEC-001", "role/aimodelshare-execution-role")["evidence"]["discovered_because"]
    assert any("tagged aimodelshare:execution-role" in r for r in because)
    second = audit("-m", "execution_role", "--fix-dry-run", *trust_args)
    again = json.loads((second.report_dir / "fix-plan.json").read_text())["actions"]
    assert not [a for a in again if a["kind"] == "ensure-execution-role"]


def test_fix_replaces_the_guide_trust_of_an_existing_role(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    aws.role("aimodelshare-execution-role", GUIDE_STEP_1)
    result = audit("-m", "execution_role", "--fix", "--fix-execution-role-trust", USER)
    assert result.finding("AMS-EXEC-001", "role/aimodelshare-execution-role")["outcome"] == "fixed"
    trust: Any = aws.iam.get_role(RoleName="aimodelshare-execution-role")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_fix_keeps_the_services_federated_identities_and_denies_the_role_trusts(aws: Account, audit: Audit) -> None:
    """Review finding: replacing the trust dropped every other statement, so the Lambda functions and
    the OIDC CI job using the role stopped working. Only AWS principals (AMS-EXEC-001's) change."""
    _ai_user(aws)
    oidc = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    mallory = f"arn:aws:iam::{ACCOUNT}:user/mallory"
    deny = {"Sid": "NoMallory", "Effect": "Deny", "Principal": {"AWS": mallory}, "Action": "sts:AssumeRole"}
    existing = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com", "AWS": USER},
                "Action": "sts:AssumeRole",
            },
            {"Effect": "Allow", "Principal": {"Federated": oidc}, "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"},
            deny,
        ],
    }
    aws.role("aimodelshare-execution-role", existing)
    result = audit("-m", "execution_role", "--fix", "--fix-execution-role-trust", CI_ROLE)
    assert result.finding("AMS-EXEC-001", "role/aimodelshare-execution-role")["outcome"] == "fixed"
    trust: Any = aws.iam.get_role(RoleName="aimodelshare-execution-role")["Role"]["AssumeRolePolicyDocument"]
    principals = [s["Principal"] for s in trust["Statement"]]
    assert {"Service": "lambda.amazonaws.com"} in principals
    assert {"Federated": oidc} in principals
    assert deny in trust["Statement"]
    allowed_aws = [
        s["Principal"]["AWS"] for s in trust["Statement"] if s["Effect"] == "Allow" and "AWS" in s["Principal"]
    ]
    assert allowed_aws in ([CI_ROLE], [[CI_ROLE]])  # the operator's principals replace the old ones


def test_fix_without_the_trust_option_says_which_option_to_give(aws: Account, audit: Audit) -> None:
    _ai_user(aws)
    result = audit("-m", "execution_role", "--fix-dry-run")
    plan = json.loads((result.report_dir / "fix-plan.json").read_text())
    assert not [a for a in plan["actions"] if a["kind"] == "ensure-execution-role"]
    (note,) = [n for n in plan["not_fixable"] if n["rule_id"] == "AMS-EXEC-001"]
    assert "--fix-execution-role-trust" in note["reason"]
    assert "aimodelshare-execution-role" not in {r["RoleName"] for r in aws.iam.list_roles()["Roles"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fix-execution-role-trust", USER], "only applies with --fix or --fix-dry-run"),
        (["--fix", "--fix-execution-role-trust", f"arn:aws:iam::{OTHER_ACCOUNT}:root"], "whole foreign account"),
        (["--fix", "--fix-execution-role-trust", "*"], "is not an IAM user, role or account root ARN"),
        (["--fix", "--fix-execution-role-trust", "lambda.amazonaws.com"], "is not an IAM user, role"),
    ],
)
def test_bad_execution_role_trust_is_a_usage_error(aws: Account, audit: Audit, args: list[str], message: str) -> None:
    result = audit(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr, result.stderr


def test_the_trust_fix_writes_passes_its_own_rule() -> None:
    from ams_iam_audit.aimodelshare import execution_role_trust

    document = execution_role_trust([USER, CI_ROLE, f"arn:aws:iam::{ACCOUNT}:root"], ACCOUNT)
    outcome, _, message = exec_001(document)
    assert outcome == "pass", message


def test_fix_policy_holds_what_creating_the_execution_role_needs() -> None:
    from ams_iam_audit.aimodelshare import EXECUTION_ROLE_NAME
    from ams_iam_audit.remediate.permissions import fix_actions, fix_policy
    from ams_iam_audit.remediate.plan import EnsureExecutionRole

    needed = EnsureExecutionRole.permissions
    assert {"iam:CreateRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole"} <= needed
    assert needed <= set(fix_actions())
    (roles,) = [s for s in fix_policy()["Statement"] if s["Sid"] == "AmsIamAuditFixIamRole"]
    assert f"arn:aws:iam::*:role/{EXECUTION_ROLE_NAME}" in roles["Resource"]
    assert {"iam:CreateRole", "iam:UpdateAssumeRolePolicy"} <= set(roles["Action"])


@pytest.mark.parametrize(
    ("operator", "values", "restricts"),
    [
        ("Bool", ("true",), True),
        ("Bool", ("maybe",), False),
        ("BoolIfExists", ("true",), False),
        ("NumericLessThan", ("3600",), True),
        ("NumericLessThan", ("an hour",), False),
        ("NumericLessThanIfExists", ("3600",), False),
        ("ForAllValues:Bool", ("true",), False),
        ("Null", ("false",), False),
    ],
)
def test_scalar_comparisons_count_only_when_asked_for(operator: str, values: tuple[str, ...], restricts: bool) -> None:
    """``scalar=True`` (keys that hold no names) lets a fixed Bool/Numeric comparison count; without
    it, the evaluator's answer for names and ARNs is unchanged."""
    from ams_iam_audit.policy import ConditionEntry, certainly_restricts

    entry = ConditionEntry(operator, "aws:multifactorauthage", values)
    assert (certainly_restricts(entry, scalar=True) is None) is restricts
    assert certainly_restricts(entry) is not None
