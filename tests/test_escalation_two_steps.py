"""Attaching a policy that can itself write policies is the first of two steps to administrator: an
``iam:PolicyARN`` condition naming such a policy narrows nothing (found by review: both AMS-PRIV-002
and AMS-PRIV-004 passed it)."""

from __future__ import annotations

import pytest
from test_analysis import IAM, WEAK_DOC, World, allow, doc, grants_for, method

from ams_iam_audit.analysis import analyse
from ams_iam_audit.policy import parse_policy


@pytest.mark.parametrize(
    ("named", "escalates"),
    [
        (doc(allow(["iam:PutRolePolicy", "iam:PutUserPolicy"], "*")), True),  # writes policies: step two
        (doc(allow("iam:CreatePolicyVersion", f"{IAM}:policy/*")), True),
        (doc(allow("lambda:UpdateFunctionCode", "*")), True),  # an escalation method of its own
        (WEAK_DOC, False),  # reads only: attaching it leads nowhere
    ],
)
def test_a_policy_arn_condition_narrows_only_to_policies_that_lead_nowhere(
    named: dict[str, object], escalates: bool
) -> None:
    world = World()
    target = world.policy("named", named)
    condition = {"iam:attachuserpolicy": {"ArnEquals": {"iam:PolicyARN": target}}}
    user = world.user("dev", *grants_for(method("iam-attach-user-policy"), condition=condition))
    assert (world.verdict(user).kind == "path") == escalates


def test_the_per_policy_view_agrees() -> None:
    world = World()
    target = world.policy("escalator", doc(allow(["iam:PutRolePolicy", "iam:PutUserPolicy"], "*")))
    document = doc(allow("iam:AttachUserPolicy", f"{IAM}:user/*", Condition={"ArnEquals": {"iam:PolicyARN": target}}))
    world.policy("attach-escalator", document)
    enabled = analyse(world.inventory()).enabled_by("policy/attach-escalator", parse_policy(document), None)
    assert [e.method.id for e in enabled] == ["iam-attach-user-policy"]
