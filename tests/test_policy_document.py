"""Parsing and normalisation of policy documents: every shape AWS accepts reduced to one, every shape it
rejects refused, and the fields the grant analysis reads (NotPrincipal, conditions, Sid) kept."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from ams_iam_audit.policy import (
    PolicyParseError,
    canonical_policy_doc,
    decode_policy,
    parse_policy,
    policy_hash,
)

ROLE = "arn:aws:iam::123456789012:role/reader"


def doc(*statements: Any, version: str | None = "2012-10-17") -> dict[str, Any]:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        body["Version"] = version
    return body


def statement(**fields: Any) -> Any:
    """One parsed Allow statement; a field given as ``None`` is left out (``Action=None, NotAction=...``)."""
    raw = {
        k: v
        for k, v in {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **fields}.items()
        if v is not None
    }
    (parsed,) = parse_policy(doc(raw)).statements
    return parsed


def test_principals_are_normalised_and_not_principal_is_kept() -> None:
    assert statement(Principal="*").principal == (("AWS", ("*",)),)
    assert statement(Principal={"AWS": [ROLE, "*", ROLE], "Service": "s3.amazonaws.com"}).principal == (
        ("AWS", ("*", ROLE)),
        ("Service", ("s3.amazonaws.com",)),
    )
    negated = statement(NotPrincipal={"AWS": ROLE})
    assert negated.not_principal == (("AWS", (ROLE,)),)
    assert negated.principal is None
    assert statement(NotPrincipal="*").not_principal == (("AWS", ("*",)),)
    plain = statement()
    assert plain.principal is None
    assert plain.not_principal is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Principal": ["*"]}, 'Principal must be "\\*" or an object'),
        ({"NotPrincipal": "someone"}, 'NotPrincipal must be "\\*" or an object'),
        ({"Principal": {"AWS": 12}}, "Principal.AWS must be a string or a list of strings"),
        ({"Condition": "yes"}, "Condition must be an object"),
        ({"Condition": {"StringEquals": "x"}}, "Condition.StringEquals must be an object"),
        ({"Resource": ["a", 1]}, "Resource must be a string or a list of strings"),
        ({"Effect": "allow"}, "Effect must be"),
        ({"Principal": "*", "NotPrincipal": {"AWS": ROLE}}, "Principal and NotPrincipal cannot both be present"),
        ({"NotResource": "x"}, "Resource and NotResource cannot both be present"),
    ],
)
def test_malformed_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    raw = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **fields}
    with pytest.raises(PolicyParseError, match=message) as info:
        parse_policy(doc(raw), where="policy/x")
    assert str(info.value).startswith("policy/x Statement[0]: ")


def test_a_statement_must_be_an_object() -> None:
    with pytest.raises(PolicyParseError, match=r"policy Statement\[1\]: must be an object"):
        parse_policy(doc({"Effect": "Deny", "Action": "*", "Resource": "*"}, "oops"))


def test_both_action_and_not_action_are_refused() -> None:
    with pytest.raises(PolicyParseError, match="exactly one of Action and NotAction"):
        parse_policy(doc({"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}))


def test_conditions_are_normalised() -> None:
    parsed = statement(
        Condition={
            "StringEquals": {"AWS:ResourceAccount": ["2", "1", "2"], "s3:prefix": "home/"},
            "Bool": {"aws:SecureTransport": True},
            "NumericLessThan": {"s3:max-keys": 10},
        }
    )
    assert parsed.conditions == (
        ("Bool", (("aws:securetransport", ("true",)),)),
        ("NumericLessThan", (("s3:max-keys", ("10",)),)),
        ("StringEquals", (("aws:resourceaccount", ("1", "2")), ("s3:prefix", ("home/",)))),
    )
    assert parsed.condition_keys == {"aws:securetransport", "s3:max-keys", "aws:resourceaccount", "s3:prefix"}
    assert statement(Condition={"Bool": {"aws:SecureTransport": False}}).conditions == (
        ("Bool", (("aws:securetransport", ("false",)),)),
    )
    assert statement().conditions == ()
    assert statement().condition_keys == frozenset()


def test_actions_resources_and_sid() -> None:
    parsed = statement(Sid="Read", Action=[" S3:GetObject ", "s3:getobject", "IAM:PassRole"], Resource=["b", "a", "b"])
    assert parsed.actions == ("iam:passrole", "s3:getobject")
    assert parsed.not_actions is None
    assert parsed.resources == ("a", "b")
    assert parsed.not_resources is None
    assert parsed.sid == "Read"
    assert parsed.is_allow
    assert statement(Sid="").sid is None
    assert statement(Sid=7).sid == "7"
    negated = statement(NotAction="iam:*", Action=None, NotResource="x", Resource=None)
    assert negated.not_actions == ("iam:*",)
    assert negated.actions is None
    assert negated.not_resources == ("x",)
    assert negated.resources is None
    trust = parse_policy(doc({"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": "*"})).statements[0]
    assert trust.resources is None
    assert trust.not_resources is None
    assert not trust.is_allow


def test_documents_in_every_encoding_parse_the_same() -> None:
    body = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    text = json.dumps(body)
    parsed = {
        "mapping": parse_policy(body),
        "text": parse_policy(text),
        "bytes": parse_policy(text.encode()),
        "url-encoded": parse_policy(quote(text)),
        "url-encoded-padded": parse_policy("  " + quote(text)),
        "statement-object": parse_policy({"Version": "2012-10-17", "Statement": body["Statement"][0]}),
    }
    assert len({p.sha256 for p in parsed.values()}) == 1
    assert all(p.statements == parsed["mapping"].statements for p in parsed.values())
    assert decode_policy(body) is body
    assert decode_policy(quote(text)) == body
    assert decode_policy(text.encode()) == body
    assert decode_policy('{"100%41": true, "Statement": []}') == {"100%41": True, "Statement": []}  # not URL-encoded


def test_version_and_raw_are_kept() -> None:
    body = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    parsed = parse_policy(body)
    assert parsed.version == "2012-10-17"
    assert parsed.raw == body
    assert parsed.statements[0].raw == body["Statement"][0]
    assert parse_policy(doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, version=None)).version is None
    assert json.loads(parsed.canonical_json)["Version"] == "2012-10-17"


def test_equal_permissions_in_other_shapes_are_equal_documents() -> None:
    """Statements compare by meaning, not by their raw text (the grant cache relies on it)."""
    a = parse_policy(doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    b = parse_policy(doc({"Effect": "Allow", "Action": ["S3:GetObject"], "Resource": ["*"]}))
    assert a == b
    assert hash(a) == hash(b)
    assert "raw" not in repr(a.statements[0])


def test_canonical_form() -> None:
    body = doc(
        {
            "Sid": "X",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": "arn:aws:s3:::b/*",
            "Principal": {"AWS": ROLE},
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "x", "NotPrincipal": {"AWS": ROLE}},
    )
    canonical = canonical_policy_doc(body)
    assert canonical == canonical_policy_doc(parse_policy(body))
    assert json.loads(canonical) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:getobject", "s3:putobject"],
                "Resource": ["arn:aws:s3:::b/*"],
                "Principal": {"AWS": [ROLE]},
                "Condition": {"Bool": {"aws:securetransport": ["true"]}},
            },
            {"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": ["x"], "NotPrincipal": {"AWS": [ROLE]}},
        ],
    }
    assert ": " not in canonical
    assert ", " not in canonical
    assert list(json.loads(canonical)) == ["Statement", "Version"]  # keys sorted
    assert policy_hash(body) == policy_hash(parse_policy(body)) == parse_policy(body).sha256
    assert len(policy_hash(body)) == 64
    assert policy_hash(body) != policy_hash(doc(body["Statement"][0]))


def test_the_canonical_form_is_stable() -> None:
    """Hashes are stored (snapshots, baselines, the shared roles' drift check): the canonical text of a
    document must not change between releases without a deliberate migration."""
    body = doc(
        {
            "Sid": "X",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
    )
    assert canonical_policy_doc(body) == (
        '{"Statement":[{"Action":["iam:*"],"Effect":"Deny","Resource":["*"]},'
        '{"Action":["s3:getobject","s3:putobject"],"Condition":{"Bool":{"aws:securetransport":["true"]}},'
        '"Effect":"Allow","Resource":["arn:aws:s3:::b/*"]}],"Version":"2012-10-17"}'
    )
    assert policy_hash(body) == "0cf690e1d62b31139a08729cc9500cf8eb05e40ac214297b582544652427c571"
