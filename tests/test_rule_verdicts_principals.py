"""AMS-PRIV-004 (who can become administrator) and AMS-PRIV-005 (invoke only the library's functions),
and the condition evidence of AMS-PRIV-002, AMS-S3-001/002 and AMS-EXEC-001, pinned by calling the rule
functions directly with in-memory inventories: fast enough to judge every mutant of the rules.
``test_escalation.py``, ``test_rule_lambda_invoke.py`` and ``test_rule_conditions.py`` drive the same
verdicts end to end through a moto server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rule_functions import RULES, judge, load_rules

from ams_iam_audit import AuditContext, Evidence, ExecutionRoleRef, Inventory, PolicyRef, Role, Section, User

ACCOUNT = "123456789012"
OTHER = "210987654321"
IAM = f"arn:aws:iam::{ACCOUNT}"
ADMIN_DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture(autouse=True, scope="module")
def _rule_modules(pytestconfig: pytest.Config) -> None:
    load_rules(pytestconfig)


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(aws: str) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "sts:AssumeRole"})


def inventory(users: tuple[User, ...] = (), roles: tuple[Role, ...] = ()) -> Inventory:
    return Inventory(
        account_id=ACCOUNT,
        partition="aws",
        collected_at=datetime(2026, 1, 1, tzinfo=UTC),
        caller_arn=None,
        regions=("us-east-1",),
        sections=(Section("iam", True),),
        users=users,
        roles=roles,
    )


def user(name: str, *statements: dict[str, Any]) -> User:
    from ams_iam_audit import InlinePolicy

    inline = (InlinePolicy("grants", doc(*statements)),) if statements else ()
    return User(name, f"{IAM}:user/{name}", "/", None, (), inline, (), ())


def role(name: str, trust_policy: dict[str, Any], *statements: dict[str, Any]) -> Role:
    from ams_iam_audit import InlinePolicy

    inline = (InlinePolicy("grants", doc(*statements)),) if statements else ()
    return Role(name, f"{IAM}:role/{name}", "/", None, trust_policy, inline)


def priv_004(principal: User | Role, inv: Inventory) -> tuple[str, Evidence, str]:
    audit = AuditContext(inventory=inv)
    return judge(lambda e: RULES["privilege"].test_no_principal_can_become_administrator(principal, e, audit))


def test_priv_004_fails_a_path_critical_with_the_path_in_the_message() -> None:
    dev = user("dev", allow("sts:AssumeRole"))
    admin = role("admin", trust(dev.arn), allow("*"))
    outcome, evidence, message = priv_004(dev, inventory((dev,), (admin,)))
    assert outcome == "fail"
    assert evidence.severity is None  # the rule's own severity: critical
    assert evidence.items["verdict"] == "path"
    expected = "user/dev can become administrator: user/dev -> [sts-assume-role] role/admin -> [administrator] "
    assert message.splitlines()[0] == expected + "administrator"


def test_priv_004_fails_a_latent_method_at_medium() -> None:
    dev = user("dev", allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]))
    outcome, evidence, message = priv_004(dev, inventory((dev,)))
    assert outcome == "fail"
    assert evidence.severity == "medium"
    assert evidence.items["verdict"] == "latent"
    assert "(no target today)" in message
    assert "lambda-create-invoke-pass-role" in message


def test_priv_004_passes_an_administrator_and_a_principal_with_no_way_up() -> None:
    admin = role("admin", trust(f"{IAM}:user/nobody"), allow("*"))
    reader = user("reader", allow("s3:GetObject"))
    inv = inventory((reader,), (admin,))
    assert priv_004(admin, inv)[0] == "pass"
    assert priv_004(admin, inv)[1].items["verdict"] == "administrator"
    outcome, evidence, _ = priv_004(reader, inv)
    assert outcome == "pass"
    assert evidence.items == {"verdict": "none"}
    assert evidence.severity is None


def test_priv_004_errors_when_the_verdict_is_unknown() -> None:
    from ams_iam_audit import AttachedPolicy

    gone = User("u", f"{IAM}:user/u", "/", None, (), (), (AttachedPolicy("gone", f"{IAM}:policy/gone"),), ())
    with pytest.raises(LookupError, match=r"could not be evaluated: policy .*gone"):
        priv_004(gone, inventory((gone,)))


def priv_005(ref: PolicyRef) -> tuple[str, Evidence, str]:
    audit = AuditContext(inventory=inventory())
    return judge(lambda e: RULES["privilege"].test_invoke_only_library_functions(ref, e, audit))


def managed(*statements: dict[str, Any]) -> PolicyRef:
    return PolicyRef("managed", "p", f"{IAM}:policy/p", None, doc(*statements), aimodelshare=True)


FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"


@pytest.mark.parametrize(
    ("statements", "beyond"),
    [
        ([allow("lambda:InvokeFunction")], ["*"]),
        ([allow("lambda:*", f"{FN}:*")], [f"{FN}:*"]),
        ([allow("lambda:InvokeFunction", [f"{FN}:modfunction1", f"{FN}:other"])], [f"{FN}:other"]),
        (
            [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "NotResource": f"{FN}:x"}],
            [f"every function but {FN}:x"],
        ),
    ],
)
def test_priv_005_fails_invokes_beyond_the_library_functions(statements: list[Any], beyond: list[str]) -> None:
    outcome, evidence, message = priv_005(managed(*statements))
    assert outcome == "fail"
    (statement,) = evidence.items["statements"]
    assert statement["beyond_library_functions"] == beyond
    assert evidence.items["library_functions"][0].startswith(f"arn:aws:lambda:*:{ACCOUNT}:function:")
    assert message.startswith("policy/p lets its holder invoke functions other than the library's: statement 0: ")


@pytest.mark.parametrize(
    "statements",
    [
        [allow("lambda:InvokeFunction", [f"{FN}:modfunction*", f"{FN}:evalfunction1", f"{FN}:redisAccess2:prod"])],
        [allow("lambda:GetFunction")],
        [allow("lambda:InvokeFunction"), {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    ],
)
def test_priv_005_passes_the_library_functions_and_what_invokes_nothing(statements: list[Any]) -> None:
    outcome, evidence, _ = priv_005(managed(*statements))
    assert outcome == "pass"
    assert evidence.items == {}


def test_priv_005_judges_the_partition_of_the_account() -> None:
    inv = Inventory(
        account_id=ACCOUNT,
        partition="aws-cn",
        collected_at=datetime(2026, 1, 1, tzinfo=UTC),
        caller_arn=None,
        regions=(),
        sections=(),
    )
    ref = managed(allow("lambda:InvokeFunction", f"arn:aws-cn:lambda:cn-north-1:{ACCOUNT}:function:modfunction1"))
    audit = AuditContext(inventory=inv)
    outcome, _, _ = judge(lambda e: RULES["privilege"].test_invoke_only_library_functions(ref, e, audit))
    assert outcome == "pass"


def test_priv_002_names_the_catalogue_methods_and_the_conditions_set_aside() -> None:
    ref = managed(
        allow(
            ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
            Condition={
                "StringLike": {"iam:PassedToService": "*"},
                "StringEquals": {"aws:RequestedRegion": "eu-west-1"},
            },
        )
    )
    audit = AuditContext(inventory=inventory())
    outcome, evidence, _ = judge(lambda e: RULES["privilege"].test_no_privilege_escalation(ref, e, audit))
    assert outcome == "fail"
    assert "lambda-create-invoke-pass-role" in evidence.items["escalation_methods"]
    (statement,) = evidence.items["statements"]
    reasons = {c["key"]: c["reason"] for c in statement["conditions_set_aside"]}
    assert "wildcard" in reasons["iam:passedtoservice"]
    assert reasons["aws:requestedregion"] == "not one of the escalating actions' own keys"


def test_s3_002_records_why_a_pin_was_set_aside() -> None:
    wildcard = ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"]
    ref = managed(
        allow(
            "s3:GetObject",
            wildcard,
            Condition={"StringEquals": {"aws:ResourceOrgID": "o-abc", "aws:ResourceAccount": OTHER}},
        )
    )
    outcome, evidence, _ = judge(lambda e: RULES["s3"].test_bucket_wildcards_pinned_to_account(ref, e, inventory()))
    assert outcome == "fail"
    reasons = {c["key"]: c["reason"] for c in evidence.items["statements"][0]["conditions_set_aside"]}
    assert reasons["aws:resourceaccount"] == f"'{OTHER}' is not the audited account {ACCOUNT}"
    assert reasons["aws:resourceorgid"].startswith("'o-abc' names an organization")


def test_s3_001_lowers_a_step_only_for_a_condition_that_certainly_restricts() -> None:
    def severity(condition: dict[str, Any]) -> str:
        ref = managed(allow("s3:*", Condition=condition))
        outcome, evidence, _ = judge(lambda e: RULES["s3"].test_no_wildcard_s3_grants(ref, e, inventory()))
        assert outcome == "fail"
        return str(evidence.severity)

    assert severity({"StringEquals": {"aws:SourceVpc": "vpc-1"}}) == "medium"
    assert severity({"Null": {"aws:SourceVpc": "false"}}) == "high"
    assert severity({"StringLike": {"aws:SourceVpc": "vpc-*"}}) == "high"


def test_exec_001_needs_a_condition_that_fixes_who_for_a_foreign_account() -> None:
    def outcome(condition: dict[str, Any]) -> tuple[str, Evidence]:
        statement = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": "sts:AssumeRole",
            "Condition": condition,
        }
        execution = role("exec", doc(statement))
        audit = AuditContext(inventory=inventory(roles=(execution,)))
        ref = ExecutionRoleRef(arn=execution.arn, role=execution)
        result, evidence, _ = judge(lambda e: RULES["exec"].test_execution_role_trust(ref, e, audit))
        return result, evidence

    assert outcome({"StringEquals": {"sts:ExternalId": "x-1"}})[0] == "pass"
    assert outcome({"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:role/ci"}})[0] == "pass"
    failed, evidence = outcome({"StringLike": {"sts:ExternalId": "*"}})
    assert failed == "fail"
    assert "wildcard" in evidence.items["conditions_set_aside"][0]["reason"]
    assert outcome({"Bool": {"aws:MultiFactorAuthPresent": "true"}})[0] == "fail"


def test_s3_001_public_statements_need_a_fixed_source_other_statements_any_restriction() -> None:
    region = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}

    def severity(kind: str) -> str:
        statement = allow("s3:*", Condition=region)
        if kind == "bucket":
            statement = {**statement, "Principal": "*"}
            ref = PolicyRef("bucket", "b", "arn:aws:s3:::b", None, doc(statement))
        else:
            ref = managed(statement)
        outcome, evidence, _ = judge(lambda e: RULES["s3"].test_no_wildcard_s3_grants(ref, e, inventory()))
        assert outcome == "fail"
        return str(evidence.severity)

    assert severity("bucket") == "critical"  # a fixed region is no fixed source: still open to everyone
    assert severity("managed") == "medium"  # any certain restriction lowers a private grant a step
