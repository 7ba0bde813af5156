"""A case only where a rule has something to judge (issue 12): a rule's ``judges`` test leaves out, at
collection, the subjects that hold nothing it judges, and one ``[examined]`` case stands for them.

What a user relies on:
* the test never leaves out a subject the rule would fail or err on (a false "compliant" is the worst
  defect): held to that over generated documents (NotAction, ``Statement`` as an object, mixed case,
  partial wildcards, conditions, Deny) and over every subject of the demo account, for every built-in
  rule that has one;
* the ``examined`` case says what was examined and lists the subjects it stands for, a clean account
  still shows every rule passed, ``-k`` selects it, and a subject that starts to matter (a new S3
  statement) becomes a case of its own;
* a baseline's failure whose subject now holds nothing the rule judges is *resolved*.
"""

from __future__ import annotations

import importlib
import inspect
import json
from types import ModuleType
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, Account, Audit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_functions import load_rules

from ams_iam_audit import Evidence, PolicyRef, allow_grants, parse_policy
from ams_iam_audit.aws import AwsClients, CallerIdentity
from ams_iam_audit.demo import seed
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.pytest_plugin.fixtures import rule_arguments
from ams_iam_audit.pytest_plugin.plugin import builtin_rules_dir
from ams_iam_audit.report.organization import organization_section
from ams_iam_audit.report.view import build_view
from ams_iam_audit.rule import Rule, get_rule
from ams_iam_audit.scopes import BUILTIN_SCOPES, SCOPES, AuditContext, Examined, Subject, subjects_for

from test_rule_verdicts import AUDIT  # isort: skip


@pytest.fixture(scope="module")
def rules(pytestconfig: pytest.Config) -> dict[str, tuple[Rule, Any]]:
    """Every built-in rule with a ``judges`` test: id -> (rule, function)."""
    load_rules(pytestconfig)
    modules: list[ModuleType] = [
        importlib.import_module(f"ams_iam_audit.rules.{p.stem}") for p in sorted(builtin_rules_dir().glob("test_*.py"))
    ]
    found = {}
    for module in modules:
        for function in vars(module).values():
            rule = get_rule(function)
            if rule is not None and rule.judges is not None:
                found[rule.id] = (rule, function)
    return found


def _outcome(function: Any, scope: str, value: Any, ctx: AuditContext) -> str:
    """ "pass", "fail" or "error: ..." for one subject, the rule called as the plugin calls it."""
    names = tuple(inspect.signature(function).parameters)
    arguments = rule_arguments(names, ctx, Evidence, lambda _scope: value)
    assert arguments is not None, names
    try:
        function(**arguments)
    except (AssertionError, pytest.fail.Exception):
        return "fail"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "pass"


def test_the_rules_that_scope_their_cases(rules: dict[str, tuple[Rule, Any]]) -> None:
    # the rules whose scopes are large in real accounts: a change here is a change to what is judged
    assert set(rules) == {
        "AMS-ACCT-001",
        "AMS-USER-001",
        "AMS-POLICY-001",
        "AMS-ROLE-001",
        "AMS-ROLE-002",
        "AMS-S3-001",
        "AMS-S3-002",
        "AMS-PRIV-001",
        "AMS-PRIV-002",
        "AMS-PRIV-004",
        "AMS-PRIV-005",
        "AMS-SECRET-001",
    }
    assert all(r.unjudged for r, _ in rules.values())


# --- the test never leaves out what the rule would fail: generated documents -------------------------

_ACTIONS = [
    "s3:GetObject",
    "S3:PutObject",
    "s3:Put*",
    "s3:*",
    "S*:Get*",
    "s?:ListBucket",
    "*",
    "*:*",
    "iam:PassRole",
    "IAM:CreatePolicyVersion",
    "iam:*",
    "i*:Put*",
    "lambda:InvokeFunction",
    "lambda:UpdateFunctionCode",
    "Lambda:*",
    "ec2:RunInstances",
    "ec2:Describe*",
    "sts:AssumeRole",
    "ssm:SendCommand",
    "glue:UpdateDevEndpoint",
    "cloudformation:CreateStack",
    "dynamodb:GetItem",
    "sqs:SendMessage",
    "logs:PutLogEvents",
    "kms:Decrypt",
    "not-an-action",
    "s*Object",
    "*object",
    "i*role",
    "s3*",
    "*Function*",
]
_RESOURCES = [
    "*",
    "arn:aws:s3:::*",
    "arn:aws:s3:::aimodelshare*",
    "arn:aws:s3:::team/*",
    f"arn:aws:iam::{ACCOUNT}:role/*",
    f"arn:aws:iam::{ACCOUNT}:policy/app-*",
    "arn:aws:lambda:*:*:function:*",
    "arn:aws:dynamodb:us-east-1:123456789012:table/t",
]
_CONDITIONS = [
    {},
    {"Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}},
    {"Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
    {"Condition": {"Bool": {"aws:SecureTransport": "true"}}},
]


@st.composite
def _statement(draw: st.DrawFn) -> dict[str, Any]:
    actions = draw(st.lists(st.sampled_from(_ACTIONS), min_size=1, max_size=3))
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"]))}
    key = draw(st.sampled_from(["Action", "Action", "NotAction"]))
    statement[key] = actions[0] if len(actions) == 1 and draw(st.booleans()) else actions
    resources = draw(st.lists(st.sampled_from(_RESOURCES), min_size=1, max_size=2))
    statement[draw(st.sampled_from(["Resource", "Resource", "NotResource"]))] = resources
    statement.update(draw(st.sampled_from(_CONDITIONS)))
    return statement


@st.composite
def _document(draw: st.DrawFn) -> dict[str, Any]:
    statements = draw(st.lists(_statement(), min_size=1, max_size=3))
    body: Any = statements[0] if len(statements) == 1 and draw(st.booleans()) else statements
    return {"Version": "2012-10-17", "Statement": body}


def _ref(document: Any, kind: str) -> PolicyRef:
    if kind == "inline":
        return PolicyRef("inline", "p", f"arn:aws:iam::{ACCOUNT}:role/app", "role/app", document, aimodelshare=True)
    if kind == "bucket":
        return PolicyRef("bucket", "team", "arn:aws:s3:::team", None, document, aimodelshare=True)
    return PolicyRef("managed", "p", f"arn:aws:iam::{ACCOUNT}:policy/p", None, document, aimodelshare=True)


_DOCUMENT_RULES = ("AMS-S3-001", "AMS-S3-002", "AMS-PRIV-001", "AMS-PRIV-002", "AMS-PRIV-005")


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_document(), kind=st.sampled_from(["managed", "inline", "bucket"]))
def test_a_document_left_out_passes_the_rule(
    rules: dict[str, tuple[Rule, Any]], document: dict[str, Any], kind: str
) -> None:
    for rule_id in _DOCUMENT_RULES:
        rule, function = rules[rule_id]
        if kind == "bucket" and rule.scope != "policy_document":
            continue
        ref = _ref(document, kind)
        assert rule.judges is not None
        if not rule.judges(ref, AUDIT):
            assert _outcome(function, rule.scope, ref, AUDIT) == "pass", (rule_id, json.dumps(document))


@pytest.mark.parametrize(
    ("rule_id", "statement", "judged"),
    [
        ("AMS-S3-001", {"Effect": "Allow", "Action": "S3:PutObject", "Resource": "*"}, True),  # mixed case
        ("AMS-S3-001", {"Effect": "Allow", "Action": "s*:Put*", "Resource": "*"}, True),  # partial wildcard
        ("AMS-S3-001", {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, True),  # NotAction
        ("AMS-S3-001", {"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ("AMS-S3-001", {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}, False),  # a Deny grants nothing
        ("AMS-S3-001", {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}, False),
        ("AMS-PRIV-001", {"Effect": "Allow", "Action": "I*:*", "Resource": "*"}, True),
        ("AMS-PRIV-001", {"Effect": "Allow", "Action": ["s3:*", "ec2:*"], "Resource": "*"}, False),
        ("AMS-PRIV-002", {"Effect": "Allow", "Action": "lambda:UpdateFunctionCode", "Resource": "*"}, True),
        ("AMS-PRIV-002", {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}, False),
        ("AMS-PRIV-005", {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}, True),
    ],
)
def test_what_each_document_rule_judges(
    rules: dict[str, tuple[Rule, Any]], rule_id: str, statement: dict[str, Any], judged: bool
) -> None:
    rule, _ = rules[rule_id]
    assert rule.judges is not None
    # Statement as an object, as AWS allows
    assert rule.judges(_ref({"Version": "2012-10-17", "Statement": statement}, "managed"), AUDIT) is judged


@pytest.mark.parametrize("rule_id", _DOCUMENT_RULES)
def test_a_document_that_does_not_parse_is_judged_and_errs(rules: dict[str, tuple[Rule, Any]], rule_id: str) -> None:
    rule, function = rules[rule_id]
    ref = _ref({"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:*"}]}, "managed")
    assert rule.judges is not None
    assert rule.judges(ref, AUDIT)
    assert _outcome(function, rule.scope, ref, AUDIT).startswith("error: PolicyParseError")


# --- ... nor on any subject of the demo account ----------------------------------------------------


@pytest.fixture(scope="module")
def demo_context(moto_url: str) -> AuditContext:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10):
        pass
    session = boto3.Session(region_name="us-east-1")
    seed(session, moto_url)
    inventory = collect(
        AwsClients(session, moto_url), CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/auditor"), ["us-east-1"]
    )
    return AuditContext(inventory)


def test_every_demo_subject_left_out_passes_its_rule(
    rules: dict[str, tuple[Rule, Any]], demo_context: AuditContext
) -> None:
    left_out = 0
    for rule, function in rules.values():
        assert rule.judges is not None
        for item in subjects_for(rule.scope, demo_context, rule.select, rule.select_description):
            if isinstance(item, Subject) and not rule.judges(item.value, demo_context):
                left_out += 1
                assert _outcome(function, rule.scope, item.value, demo_context) == "pass", (rule.id, item.id)
    assert left_out >= 40  # the demo's application resources: the property is not vacuous


def test_the_examined_case_stands_for_exactly_the_subjects_left_out(
    rules: dict[str, tuple[Rule, Any]], demo_context: AuditContext
) -> None:
    rule, _ = rules["AMS-S3-001"]
    every = subjects_for(rule.scope, demo_context, rule.select, rule.select_description)
    cases = subjects_for(rule.scope, demo_context, rule.select, rule.select_description, rule.judges, rule.unjudged)
    examined = [c for c in cases if isinstance(c, Examined)]
    assert len(examined) == 1
    kept = {c.id for c in cases if not isinstance(c, Examined)}
    assert kept.isdisjoint(examined[0].resources)
    assert kept | set(examined[0].resources) == {i.id for i in every}
    assert examined[0].total == sum(isinstance(i, Subject) for i in every)


def test_a_judges_test_that_raises_keeps_the_subject(demo_context: AuditContext) -> None:
    calls = []

    def broken(value: Any, _ctx: AuditContext) -> bool:
        calls.append(value)
        raise KeyError("surprise")

    every = subjects_for("identity_policy", demo_context)
    cases = subjects_for("identity_policy", demo_context, judges=broken, criterion="x")
    assert len(calls) == sum(isinstance(c, Subject) for c in every) > 10
    assert cases == every  # every subject kept: its own case will say what is wrong
    assert not any(isinstance(c, Examined) for c in cases)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("s3:GetObject", True),
        ("S3:GetObject", True),
        ("s*Object", True),  # no service part: matches s3:getobject and s3:putobject
        ("*object", True),
        ("s3*", True),
        ("*", True),
        ("s?:Get*", True),
        ("S*:*", True),
        ("sqs:SendMessage", False),
        ("sts:*", False),
        ("iam:*", False),
    ],
)
def test_may_allow_reads_every_spelling_of_an_action(action: str, allowed: bool) -> None:
    document = parse_policy({"Statement": {"Effect": "Allow", "Action": action, "Resource": "*"}})
    assert document.may_allow(("s3",)) is allowed
    assert document.may_allow("S3") is allowed  # one service as a string, any case
    if allowed:  # the engine agrees: what may_allow says False for, no S3 action is granted
        assert any(g.of_service("s3") for g in allow_grants(document))


def test_may_allow_sees_not_action_and_ignores_deny() -> None:
    not_action = parse_policy({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]})
    assert not_action.may_allow("s3")  # conservative: NotAction may allow anything
    deny = parse_policy({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    assert not deny.may_allow("s3")
    with pytest.raises(ValueError, match="name the services"):
        deny.may_allow(())
    with pytest.raises(ValueError, match="name the services"):
        deny.may_allow("")


def test_a_rule_needs_both_judges_and_unjudged() -> None:
    from ams_iam_audit import Controls, rule

    with pytest.raises(ValueError, match="judges and unjudged go together"):
        rule(
            id="AMS-TEAM-001",
            title="t",
            severity="low",
            area="users",
            scope="user",
            rationale="r",
            remediation="r",
            controls=Controls(),
            judges=lambda _u, _a: True,
        )


# --- end to end, through pytest -----------------------------------------------------------------------


def _app_account(aws: Account) -> None:
    aws.trail()
    reader = aws.policy("app-reader", {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"})
    for name in ("alice", "bob", "carol"):
        aws.iam.create_user(UserName=name)
        aws.iam.attach_user_policy(UserName=name, PolicyArn=reader)


def test_a_clean_account_shows_every_scoped_rule_passed_once(audit: Audit, aws: Account) -> None:
    _app_account(aws)
    result = audit("-rA")
    examined = {f["rule_id"]: f for f in result.findings if f["resource"] == "examined"}
    assert examined["AMS-USER-001"]["outcome"] == "pass"
    assert examined["AMS-USER-001"]["message"] == (
        "3 of 3 IAM users are neither named like the library's users nor hold its temporary-access policy: "
        "nothing to judge"
    )
    assert examined["AMS-USER-001"]["evidence"]["examined"]["resources"] == ["user/alice", "user/bob", "user/carol"]
    assert examined["AMS-S3-001"]["evidence"]["examined"]["resources"] == ["policy/app-reader"]
    # the terminal's row counts them too
    header = next(line for line in result.stdout.splitlines() if line.startswith("rule ") and "severity" in line)
    row = next(line for line in result.stdout.splitlines() if line.startswith("AMS-USER-001 "))
    assert row.split()[header.split().index("pass")] == "3"
    # the report counts each subject the examined case stands for as passed, and lists it
    assert result.document is not None
    users = next(r for r in build_view(result.document).rules if r.id == "AMS-USER-001")
    assert users.counts["pass"] == 3
    assert users.passed == ["user/alice", "user/bob", "user/carol"]
    assert not any(f["resource"].startswith("user/") for f in result.findings if f["rule_id"] == "AMS-USER-001")
    assert "test_no_ephemeral_users[examined] PASSED" in result.stdout or (
        "PASSED rules/test_users.py::test_no_ephemeral_users[examined]" in result.stdout
    )


def test_the_examined_case_is_selected_with_k(audit: Audit, aws: Account) -> None:
    _app_account(aws)
    result = audit("-k", "AMS-USER-001 and examined")
    assert [(f["rule_id"], f["resource"]) for f in result.findings] == [("AMS-USER-001", "examined")]


def test_a_document_that_starts_to_matter_becomes_a_case(audit: Audit, aws: Account) -> None:
    _app_account(aws)
    before = audit()
    assert "policy/app-reader" not in {f["resource"] for f in before.findings if f["rule_id"] == "AMS-S3-001"}
    arn = f"arn:aws:iam::{ACCOUNT}:policy/app-reader"
    aws.iam.create_policy_version(
        PolicyArn=arn,
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
        SetAsDefault=True,
    )
    after = audit()
    assert after.finding("AMS-S3-001", "policy/app-reader")["outcome"] == "fail"
    assert "examined" not in after.outcomes("AMS-S3-001")


def test_a_baseline_failure_now_left_out_is_resolved(audit: Audit, aws: Account) -> None:
    _app_account(aws)
    temporary = aws.policy(
        "temporaryaccessAImodelsharePolicy1a2b3c", {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}
    )
    aws.iam.attach_user_policy(UserName="alice", PolicyArn=temporary)
    first = audit()
    assert first.finding("AMS-USER-001", "user/alice")["outcome"] == "fail"
    baseline = first.report_dir.parent / "baseline.json"
    baseline.write_text(json.dumps(first.document))
    aws.iam.detach_user_policy(UserName="alice", PolicyArn=temporary)
    second = audit("--baseline", str(baseline))
    assert second.outcomes("AMS-USER-001")["user/alice"] == "pass"
    assert second.document is not None
    resolved = second.document["baseline"]["resolved"]
    assert {"rule_id": "AMS-USER-001", "resource": "user/alice"} in resolved


def test_scopes_count_what_they_examine_with_a_noun() -> None:
    # the examined case's sentence names what was examined: every built-in scope says it in words
    assert all(SCOPES[name].noun for name in BUILTIN_SCOPES)


def test_an_organization_counts_each_accounts_examined_subjects() -> None:
    def examined(account: str, *resources: str) -> dict[str, Any]:
        evidence = {"examined": {"resources": list(resources)}}
        return {
            "account_id": account,
            "resource": "examined",
            "outcome": "pass",
            "severity": "high",
            "evidence": evidence,
        }

    own = {"account_id": "222222222222", "resource": "user/x", "outcome": "pass", "severity": "high", "evidence": {}}
    findings = [
        examined("111111111111", "user/a", "user/b", "user/c"),
        own,
        examined("222222222222", "user/d", "user/e"),
    ]
    section = organization_section(findings, {"111111111111": {}, "222222222222": {}})
    assert {a["account_id"]: a["outcomes"]["pass"] for a in section["accounts"]} == {
        "111111111111": 3,
        "222222222222": 3,
    }


def test_a_finding_hook_may_add_evidence_named_like_the_examined_items(
    audit: Audit, aws: Account, pytester: pytest.Pytester
) -> None:
    # the examined case reserves one evidence key, "examined": a team's hook adding "resources" still runs
    _app_account(aws)
    pytester.makeconftest("def pytest_ams_iam_audit_finding(finding, config):\n    return {'resources': ['x']}\n")
    result = audit("-k", "AMS-USER-001")
    assert result.ret == 0, result.stdout
    assert result.finding("AMS-USER-001", "examined")["evidence"]["resources"] == ["x"]
