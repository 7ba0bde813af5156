"""The one condition evaluator (``ams_iam_audit.policy.conditions``), fast (no moto: ``make mutation`` runs it).

A condition narrows a grant only when its operator and values certainly restrict the key to what a
rule requires. The table below pins the evaluator's answer for each operator and value shape; the
property tests check that nothing a fuzzer builds as open is ever judged narrowed.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from conftest import ACCOUNT, OTHER_ACCOUNT
from hypothesis import given
from hypothesis import strategies as st

from ams_iam_audit.policy import PolicyParseError, certainly_restricts, narrowing, parse_policy
from ams_iam_audit.policy.conditions import ConditionEntry

LAMBDA = "lambda.amazonaws.com"
PASSED = "iam:passedtoservice"


def _entry(operator: str, values: list[str], key: str = PASSED) -> ConditionEntry:
    return ConditionEntry(operator=operator, key=key, values=tuple(values))


# operator, values, key, restricts?  (each row is one behaviour a rule relies on)
TABLE: list[tuple[str, list[str], str, bool]] = [
    ("StringEquals", [LAMBDA], PASSED, True),
    ("StringEquals", [LAMBDA, "ec2.amazonaws.com"], PASSED, True),
    ("StringEqualsIgnoreCase", ["LAMBDA.amazonaws.com"], PASSED, True),
    ("StringEquals", ["*"], PASSED, True),  # StringEquals has no wildcards: "*" is a character
    ("StringLike", [LAMBDA], PASSED, True),
    ("StringLike", ["*"], PASSED, False),
    ("StringLike", ["*1*"], "aws:resourceaccount", False),
    ("StringLike", ["lambda.amazonaws.co?"], PASSED, False),
    ("StringLike", [LAMBDA, "*.amazonaws.com"], PASSED, False),  # one wildcard value opens the set
    ("ArnLike", ["*"], "iam:policyarn", False),
    ("ArnLike", [f"arn:aws:iam::{ACCOUNT}:policy/app-*"], "iam:policyarn", False),
    ("ArnLike", [f"arn:aws:iam::{ACCOUNT}:policy/boundary"], "iam:policyarn", True),
    ("ArnEquals", [f"arn:aws:iam::{ACCOUNT}:policy/*"], "iam:policyarn", False),  # ArnEquals matches wildcards
    ("ArnEquals", [f"arn:aws:iam::{ACCOUNT}:policy/boundary"], "iam:policyarn", True),
    ("StringNotEquals", [LAMBDA], PASSED, False),
    ("StringNotEqualsIgnoreCase", [LAMBDA], PASSED, False),
    ("StringNotLike", ["ec2*"], PASSED, False),
    ("ArnNotEquals", [f"arn:aws:iam::{ACCOUNT}:policy/x"], "iam:policyarn", False),
    ("ArnNotLike", [f"arn:aws:iam::{ACCOUNT}:policy/x"], "iam:policyarn", False),
    ("Null", ["false"], PASSED, False),
    ("Null", ["true"], PASSED, False),
    ("StringEqualsIfExists", [LAMBDA], PASSED, False),
    ("StringLikeIfExists", [LAMBDA], PASSED, False),
    ("ForAllValues:StringEquals", [LAMBDA], PASSED, False),  # true when the request has no value
    ("ForAnyValue:StringEquals", [LAMBDA], PASSED, True),  # single-valued key: same as StringEquals
    ("ForAnyValue:StringLike", ["*"], PASSED, False),
    ("ForAnyValue:StringEquals", ["x"], "aws:tagkeys", False),  # multi-valued: other values stay open
    ("ForAnyValue:StringEquals", ["x"], "aws:no-such-key", False),  # cardinality unknown: not certain
    ("Bool", ["true"], PASSED, False),
    ("NumericEquals", ["1"], PASSED, False),
    ("DateGreaterThan", ["2020-01-01T00:00:00Z"], PASSED, False),
    ("BinaryEquals", ["QmluYXJ5"], PASSED, False),
    ("StringEquals", [], PASSED, False),
    ("StringEquals", ["${aws:username}"], PASSED, False),  # a policy variable depends on the request
    ("StringEquals", [LAMBDA, "${aws:username}"], PASSED, False),  # one variable value is enough to open it
    ("IpAddress", ["203.0.113.5/24"], "aws:sourceip", True),  # host bits set: still the /24 AWS reads
    ("NumericEquals", ["203.0.113.0/24"], "aws:sourceip", False),  # a CIDR value under another operator
    ("IpAddress", ["203.0.113.0/24"], "aws:sourceip", True),
    ("IpAddress", ["0.0.0.0/0"], "aws:sourceip", False),
    ("IpAddress", ["10.0.0.0/4"], "aws:sourceip", False),
    ("IpAddress", ["2001:db8::/16"], "aws:sourceip", False),
    ("IpAddress", ["2001:db8::/48"], "aws:sourceip", True),
    ("IpAddress", ["not-an-ip"], "aws:sourceip", False),
    ("NotIpAddress", ["203.0.113.0/24"], "aws:sourceip", False),
    ("StringEqualsAnything", [LAMBDA], PASSED, False),  # an operator AWS does not have
    ("Whatever:StringEquals", [LAMBDA], PASSED, False),
]


@pytest.mark.parametrize(("operator", "values", "key", "restricts"), TABLE)
def test_operator_and_value_shape(operator: str, values: list[str], key: str, restricts: bool) -> None:
    reason = certainly_restricts(_entry(operator, values, key))
    assert (reason is None) is restricts, reason
    if not restricts:
        assert reason  # an auditor reads why the condition was set aside


def _statement(condition: dict[str, Any], action: str = "iam:PassRole") -> Any:
    document = {"Statement": {"Effect": "Allow", "Action": action, "Resource": "*", "Condition": condition}}
    return parse_policy(document).statements[0]


def test_one_restricting_entry_is_enough_and_the_rest_are_set_aside_with_reasons() -> None:
    statement = _statement(
        {
            "StringEquals": {"iam:PassedToService": LAMBDA, "aws:RequestedRegion": "eu-west-1"},
            "StringLike": {"iam:PassedToService": "*"},
        }
    )
    answer = narrowing(statement, {PASSED})
    assert answer.narrowed
    assert [e.operator for e in answer.by] == ["StringEquals"]
    evidence = answer.evidence()
    assert evidence["narrowed_by"] == [{"operator": "StringEquals", "key": PASSED, "values": [LAMBDA]}]
    reasons = {(c["operator"], c["key"]): c["reason"] for c in evidence["conditions_set_aside"]}
    assert "wildcard" in reasons[("StringLike", PASSED)]
    assert reasons[("StringEquals", "aws:requestedregion")] == f"does not constrain {PASSED}"


def test_condition_keys_are_case_insensitive() -> None:
    assert narrowing(_statement({"StringEquals": {"IAM:PassedToService": LAMBDA}}), {"iam:PassedToService"}).narrowed


def test_accept_judges_each_fixed_value() -> None:
    statement = _statement({"StringEquals": {"aws:ResourceAccount": [ACCOUNT, OTHER_ACCOUNT]}}, "s3:GetObject")

    def ours(entry: ConditionEntry, value: str) -> str | None:
        return None if value == ACCOUNT else f"{value} is another account"

    answer = narrowing(statement, {"aws:resourceaccount"}, ours)
    assert not answer.narrowed
    assert answer.set_aside[0][1] == f"{OTHER_ACCOUNT} is another account"
    assert narrowing(_statement({"StringEquals": {"aws:ResourceAccount": ACCOUNT}}), {"aws:resourceaccount"}, ours)


# operator, values, key, the reason an auditor reads (each entry restricts nothing, for its own reason)
REASONS: list[tuple[str, list[str], str, str]] = [
    ("StringEqualsIfExists", [LAMBDA], PASSED, f"StringEqualsIfExists also passes when the request has no {PASSED}"),
    (
        "ForAllValues:StringEquals",
        [LAMBDA],
        PASSED,
        f"ForAllValues:StringEquals also passes when the request has no value for {PASSED}",
    ),
    (
        "forallvalues:StringEquals",
        [LAMBDA],
        PASSED,
        "forallvalues:StringEquals also passes when the request has no value",
    ),
    ("Whatever:StringEquals", [LAMBDA], PASSED, "unknown set operator 'Whatever'"),
    ("ForAnyValue:StringEquals", ["x"], "aws:tagkeys", "which may carry several values"),
    ("StringNotEquals", [LAMBDA], PASSED, "StringNotEquals allows every value it does not list"),
    ("NotIpAddress", ["203.0.113.0/24"], "aws:sourceip", "NotIpAddress allows every value it does not list"),
    ("Null", ["false"], PASSED, "Null tests only whether the key is present, not its value"),
    ("StringEquals", [], PASSED, "no values listed"),
    ("StringEquals", ["${aws:username}"], PASSED, "a value holds a policy variable, which depends on the request"),
    ("StringLike", [LAMBDA, "*.com"], PASSED, "StringLike value '*.com' is a wildcard that matches other values"),
    ("IpAddress", ["0.0.0.0/0", "10.0.0.0/4"], "aws:sourceip", "0.0.0.0/0 covers /0, wider than /8"),
    ("IpAddress", ["2001:db8::/16"], "aws:sourceip", "2001:db8::/16 covers /16, wider than /32"),
    ("IpAddress", ["nope"], "aws:sourceip", "'nope' is not a CIDR"),
    ("Bool", ["true"], PASSED, f"Bool does not compare {PASSED} with fixed names"),
]


@pytest.mark.parametrize(("operator", "values", "key", "reason"), REASONS)
def test_the_reason_a_condition_is_set_aside(operator: str, values: list[str], key: str, reason: str) -> None:
    said = certainly_restricts(_entry(operator, values, key))
    assert said is not None
    assert reason in said


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        (set(), "does not constrain anything asked"),
        ({PASSED}, f"does not constrain {PASSED}"),
        ({PASSED, "iam:policyarn"}, f"does not constrain any of {PASSED}, iam:policyarn"),
    ],
)
def test_an_unrelated_entry_names_what_was_asked(keys: set[str], said: str) -> None:
    answer = narrowing(_statement({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}), keys)
    assert answer.evidence() == {
        "conditions_set_aside": [
            {"operator": "StringEquals", "key": "aws:requestedregion", "values": ["eu-west-1"], "reason": said}
        ]
    }
    assert answer.unrelated == (ConditionEntry("StringEquals", "aws:requestedregion", ("eu-west-1",)),)
    assert not answer.narrowed


def test_no_condition_narrows_nothing() -> None:
    statement = parse_policy({"Statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}})
    answer = narrowing(statement.statements[0], {PASSED})
    assert not answer.narrowed
    assert answer.evidence() == {}


# ---- properties ---------------------------------------------------------------------------------------------

_OPEN_OPERATORS = [
    "StringNotEquals",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
    "StringEqualsIfExists",
    "StringLikeIfExists",
    "ArnLikeIfExists",
    "ForAllValues:StringEquals",
    "ForAllValues:StringLike",
    "Bool",
    "NumericLessThan",
    "DateLessThan",
]
_RESTRICTING_OPERATORS = ["StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnLike", "ArnEquals"]
_fixed = st.text(alphabet=string.ascii_letters + string.digits + "-.:/", min_size=1, max_size=30).filter(
    lambda v: "${" not in v
)
_wild = st.builds(lambda a, w, b: a + w + b, _fixed | st.just(""), st.sampled_from(["*", "?"]), _fixed | st.just(""))
_keys = st.sampled_from(["iam:PassedToService", "aws:ResourceAccount", "iam:PolicyARN", "aws:SourceVpce"])


@st.composite
def _open_entries(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """An entry that restricts nothing: an open operator, or a pattern operator with a wildcard value."""
    key = draw(_keys)
    if draw(st.booleans()):
        return draw(st.sampled_from(_OPEN_OPERATORS)), key, draw(st.lists(_fixed, min_size=1, max_size=3))
    operator = draw(st.sampled_from(["StringLike", "ArnLike", "ArnEquals", "ForAnyValue:StringLike"]))
    values = [*draw(st.lists(_fixed, max_size=2)), draw(_wild)]
    return operator, key, draw(st.permutations(values))


def _condition(entries: list[tuple[str, str, list[str]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for operator, key, values in entries:
        out.setdefault(operator, {})[key] = values if len(values) != 1 else values[0]
    return out


@pytest.mark.fuzz
@given(st.lists(_open_entries(), min_size=1, max_size=4))
def test_a_grant_the_fuzzer_builds_open_is_never_judged_narrowed(entries: list[tuple[str, str, list[str]]]) -> None:
    statement = _statement(_condition(entries))
    keys = {k.lower() for _, k, _ in entries}
    answer = narrowing(statement, keys)
    assert not answer.narrowed, answer
    # every entry was asked about, so every one is set aside with its own reason
    assert len(answer.set_aside) == sum(len(block) for _, block in statement.conditions)
    assert all(reason for _, reason in answer.set_aside)


@pytest.mark.fuzz
@given(
    st.lists(_open_entries(), max_size=3),
    st.sampled_from(_RESTRICTING_OPERATORS),
    st.lists(_fixed, min_size=1, max_size=3),
)
def test_one_fixed_entry_narrows_whatever_else_the_condition_holds(
    entries: list[tuple[str, str, list[str]]], operator: str, values: list[str]
) -> None:
    key = "iam:PassedToService"
    condition = _condition([e for e in entries if (e[0], e[1]) != (operator, key)])
    condition.setdefault(operator, {})[key] = values
    answer = narrowing(_statement(condition), {key.lower()})
    assert answer.narrowed
    assert [e.values for e in answer.by] == [tuple(sorted(set(values)))]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@pytest.mark.fuzz
@given(_json)
def test_any_condition_json_parses_or_fails_with_the_documented_error(condition: Any) -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", "Condition": condition}]}
    try:
        statement = parse_policy(json.dumps(document)).statements[0]
    except PolicyParseError:
        return
    answer = narrowing(statement, {PASSED})
    json.dumps(answer.evidence())  # evidence is always plain JSON
