"""Which rules ``--fix`` handles is the registry of planners (``remediate.plan.PLANNERS``, one per rule
id, ``FIXABLE_RULES`` derived from it), and what a fix may call is what each kind of action declares
(``Action.permissions``, the fix policy derived from them). These tests keep the registry to the
built-in rule ids and to the README's table, make every planner act on a finding of its rule, and
refuse a planner or an action kind registered wrongly, so renaming a rule cannot silently turn its
fix off and a new action cannot be missing from the fix policy."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from conftest import ACCOUNT, Account
from demo_table import DEMO_FAILURES

from ams_iam_audit import AuditContext, Finding, demo
from ams_iam_audit.aws import AwsClients, caller_identity
from ams_iam_audit.findings import Outcome
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.inventory.model import Inventory
from ams_iam_audit.pytest_plugin.plugin import builtin_rules_dir
from ams_iam_audit.remediate.permissions import fix_actions
from ams_iam_audit.remediate.plan import (
    ACTION_KINDS,
    FIXABLE_RULES,
    PLANNERS,
    Action,
    Draft,
    make_plan,
    planner,
)

ROOT = Path(__file__).resolve().parent.parent
_DECLARED = re.compile(r'\bid="(AMS-[A-Z0-9]+-\d{3})"')
_ID = re.compile(r"AMS-[A-Z0-9]+-(\d{3})")


def builtin_rule_ids() -> set[str]:
    """Every rule id the package's ``rules/`` declares."""
    return {i for path in builtin_rules_dir().glob("test_*.py") for i in _DECLARED.findall(path.read_text())}


def readme_fixable_rules() -> set[str]:
    """The rule ids of the "for" column of the README's ``--fix`` table (``AMS-SHARED-001 to 005``,
    ``AMS-S3-001/002`` spelled out)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("| order | action |", text.index("## Fixing: `--fix`")) :]
    section = section[: section.index("\n\n")]
    found: set[str] = set()
    for row in section.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for match in re.finditer(r"(AMS-[A-Z0-9]+-)(\d{3})(?:( to |/)(\d{3}))?", cells[2]):
            head, first, sep, last = match.groups()
            if sep == " to ":
                numbers = list(range(int(first), int(last) + 1))
            else:
                numbers = [int(first), *([int(last)] if last else [])]
            found.update(f"{head}{n:03d}" for n in numbers)
    return found


def test_every_planned_rule_is_a_builtin_rule() -> None:
    builtin = builtin_rule_ids()
    assert len(builtin) >= 20
    assert set(PLANNERS) - builtin == set()
    assert frozenset(PLANNERS) == FIXABLE_RULES


def test_every_rule_the_readme_says_fix_handles_has_a_planner() -> None:
    documented = readme_fixable_rules()
    assert {"AMS-SHARED-003", "AMS-S3-002", "AMS-EXEC-001"} <= documented  # the ranges were read
    assert documented == set(FIXABLE_RULES)


# --- each planner acts on its rule -----------------------------------------------------------------

#: A demo resource for each planned rule the demo does not fail (the same resources fail a sibling).
_BORROWED = {"AMS-SHARED-003": "AMS-SHARED-001", "AMS-SHARED-005": "AMS-SHARED-001", "AMS-S3-002": "AMS-S3-001"}


@pytest.fixture
def demo_inventory(aws: Account) -> Inventory:
    """The demo footprint seeded into the test's moto server, collected as an audit would."""
    session = boto3.Session(region_name="us-east-1")
    demo.seed(session, aws.url)
    return collect(AwsClients(session, aws.url), caller_identity(session, aws.url), ("us-east-1",))


def failing(rule_id: str, resource: str) -> Finding:
    return Finding(
        rule_id=rule_id,
        title="",
        severity="high",
        area="",
        outcome=Outcome.FAIL,
        resource=resource,
        resource_arn=None,
        message="",
        remediation="",
    )


def test_each_planner_plans_or_explains_a_failing_finding_of_its_rule(demo_inventory: Inventory) -> None:
    ctx = AuditContext(inventory=demo_inventory)
    silent = []
    for rule_id in PLANNERS:
        resource = DEMO_FAILURES[_BORROWED.get(rule_id, rule_id)][0]
        plan = make_plan(
            [failing(rule_id, resource)],
            ctx,
            min_idle_days=0,
            unowned=True,
            execution_trust=(f"arn:aws:iam::{ACCOUNT}:user/alice",),
        )
        addressed = {key for action in plan.actions for key in action.addresses}
        if (rule_id, resource) not in addressed and (rule_id, resource) not in plan.not_fixable:
            silent.append(f"{rule_id} {resource}")
    assert not silent, f"planners that neither planned nor explained a failing finding: {silent}"


def test_a_finding_that_is_not_failing_or_not_fixable_is_not_planned(demo_inventory: Inventory) -> None:
    ctx = AuditContext(inventory=demo_inventory)
    user = DEMO_FAILURES["AMS-USER-001"][0]
    assert make_plan([failing("AMS-USER-001", user)], ctx, min_idle_days=0).actions
    passed = replace(failing("AMS-USER-001", user), outcome=Outcome.PASS)
    secret = failing("AMS-SECRET-001", DEMO_FAILURES["AMS-SECRET-001"][0])
    plan = make_plan([passed, secret], ctx, min_idle_days=0)
    assert plan.actions == ()
    assert plan.not_fixable == {}


# --- registering wrongly is refused ----------------------------------------------------------------


def _nothing(rule_id: str, failing: Any, draft: Draft) -> None:
    """A planner that plans nothing (never registered: every registration below is refused)."""


def test_a_second_planner_for_a_rule_is_refused() -> None:
    before = dict(PLANNERS)
    with pytest.raises(ValueError, match="AMS-USER-001 already planned by _plan_ephemeral_user"):
        planner("AMS-TEAM-001", "AMS-USER-001")(_nothing)
    assert dict(PLANNERS) == before  # nothing of the refused registration was kept


def test_a_planner_that_reads_a_rule_not_yet_planned_is_refused() -> None:
    before = dict(PLANNERS)
    with pytest.raises(ValueError, match="reads the plans of AMS-TEAM-002"):
        planner("AMS-TEAM-001", after=("AMS-ROLE-001", "AMS-TEAM-002"))(_nothing)
    assert dict(PLANNERS) == before


def test_an_action_kind_without_permissions_or_with_a_taken_kind_is_refused() -> None:
    before = dict(ACTION_KINDS)
    with pytest.raises(TypeError, match="declares the permissions"):

        class Unpermitted(Action):
            kind: ClassVar[str] = "team-unpermitted"

    with pytest.raises(TypeError, match="'delete-role' is empty or taken"):

        class Again(Action):
            kind: ClassVar[str] = "delete-role"
            permissions: ClassVar[frozenset[str]] = frozenset({"iam:DeleteRole"})

    assert dict(ACTION_KINDS) == before


# --- the fix policy from the action kinds ----------------------------------------------------------


def test_every_action_kind_declares_what_it_calls_and_the_fix_policy_holds_it() -> None:
    assert set(ACTION_KINDS) == {
        "ensure-shared-role",
        "ensure-execution-role",
        "repoint",
        "redeploy",
        "empty-role",
        "delete-role",
        "retire-user",
        "deactivate-keys",
        "delete-policy",
        "rewrite-policy",
    }
    allowed = set(fix_actions())
    for kind, action in ACTION_KINDS.items():
        assert action.permissions <= allowed, kind
    shared = ACTION_KINDS["ensure-shared-role"].permissions
    assert {"iam:PutRolePermissionsBoundary", "iam:CreatePolicyVersion"} <= shared
    assert "iam:GenerateServiceLastAccessedDetails" in ACTION_KINDS["empty-role"].permissions
    assert "iam:GetAccessKeyLastUsed" in ACTION_KINDS["retire-user"].permissions
    assert "iam:UpdateAccessKey" in ACTION_KINDS["deactivate-keys"].permissions
    assert "s3:PutBucketPolicy" in ACTION_KINDS["rewrite-policy"].permissions
