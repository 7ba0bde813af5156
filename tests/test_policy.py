"""The policy module: normalisation, semantic hash, expansion through policy_sentry, Deny handling."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from policy_sentry.querying.actions import get_actions_for_service

from ams_iam_audit.policy import (
    PolicyParseError,
    allow_grants,
    arn_covers,
    canonical_policy_doc,
    expand,
    parse_policy,
    policy_hash,
    s3_bucket_segment,
    statement_actions,
)


def doc(*statements: object) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_same_permissions_in_another_shape_hash_equal() -> None:
    a = doc(
        {"Sid": "One", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": ["*"]},
    )
    b = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "LOGS:putlogevents", "Resource": "*"},
            {
                "Sid": "Renamed",
                "Effect": "Allow",
                "Action": ["s3:getobject", "S3:PutObject", "s3:GetObject"],
                "Resource": ["arn:aws:s3:::b/*"],
            },
        ],
    }
    assert policy_hash(a) == policy_hash(b)
    assert canonical_policy_doc(json.dumps(a)) == canonical_policy_doc(quote(json.dumps(b)))


def test_different_permissions_hash_differently() -> None:
    base = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    for changed in (
        doc({"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
        doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::B/*"}),  # ARNs are case-sensitive
        doc({"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
        doc(
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ),
    ):
        assert policy_hash(changed) != policy_hash(base)


def test_statement_object_and_list_are_the_same() -> None:
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    assert policy_hash({"Statement": statement}) == policy_hash({"Statement": [statement]})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{oops", "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ({"Version": "2012-10-17"}, "has no Statement"),
        (doc({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}), "Effect must be"),
        (doc({"Effect": "Allow", "Resource": "*"}), "exactly one of Action and NotAction"),
        (doc({"Effect": "Allow", "Action": 3, "Resource": "*"}), "Action must be a string or a list"),
        (doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotResource": "x"}), "cannot both be present"),
    ],
)
def test_parse_errors_name_the_document_and_place(document: object, message: str) -> None:
    with pytest.raises(PolicyParseError, match=message) as info:
        parse_policy(document, where="role/x inline y")  # type: ignore[arg-type]
    assert str(info.value).startswith("role/x inline y")


def test_expansion_comes_from_policy_sentry() -> None:
    s3 = {a.lower() for a in get_actions_for_service("s3")}
    assert expand("s3:*") == s3
    assert expand("S3:Put*") == {a for a in s3 if a.startswith("s3:put")}
    assert expand("s3:Get?bject") == {"s3:getobject"}
    assert expand("s3:NoSuchAction") == {"s3:nosuchaction"}  # unknown actions are kept, never dropped


def test_not_action_grants_everything_else() -> None:
    (statement,) = parse_policy(doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})).statements
    granted = statement_actions(statement)
    assert "s3:getobject" in granted
    assert not any(a.startswith("iam:") for a in granted)


def test_deny_removes_only_what_it_certainly_covers() -> None:
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
    removed = allow_grants(parse_policy(doc(allow, {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"})))[0]
    assert "s3:deleteobject" not in removed.actions
    assert "s3:getobject" in removed.actions
    covering = allow_grants(
        parse_policy(doc(allow, {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b*"}))
    )
    assert not covering[0].actions
    for weaker in (
        {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/private/*"},  # narrower resource
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::other/*"},
    ):
        grant = allow_grants(parse_policy(doc(allow, weaker)))[0]
        assert "s3:deleteobject" in grant.actions, weaker


def test_resource_matching() -> None:
    assert arn_covers("*", "arn:aws:s3:::anything")
    assert arn_covers("arn:aws:s3:::*", "arn:aws:s3:::aimodelshare*/*")
    assert not arn_covers("arn:aws:s3:::a?", "arn:aws:s3:::a*")  # "?" never stands for a wildcard
    assert s3_bucket_segment("arn:aws:s3:::aimodelshare*/key") == "aimodelshare*"
    assert s3_bucket_segment("arn:aws:iam::1:role/x") is None
    assert s3_bucket_segment("*") is None


def test_wildcard_only_actions_are_known() -> None:
    grant = allow_grants(
        parse_policy(doc({"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetObject"], "Resource": "*"}))
    )[0]
    assert grant.constrainable(grant.actions) == {"s3:getobject"}
