"""Property-based fuzzing of the policy normaliser: whatever arrives (any JSON, in any of the
encodings AWS and exports use), parsing either succeeds or raises the documented PolicyParseError;
what parses has one canonical form, whatever its shape, spelling or encoding; and what parses can
be judged (allow_grants never raises)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ams_iam_audit.policy import PolicyParseError, allow_grants, parse_policy, policy_hash

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_KEYS = ["Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition", "Sid"]
#: Statements built from the keys AWS knows, with values of any JSON shape: most are invalid, some are not.
_statement = st.dictionaries(
    st.sampled_from(_KEYS), _json | st.sampled_from(["Allow", "Deny", "*", "s3:*"]), max_size=6
)
_documents = st.fixed_dictionaries(
    {"Statement": st.one_of(_statement, st.lists(_statement, max_size=4), _json)},
    optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17"]) | _json},
)


def _encodings(document: Any) -> list[Any]:
    text = json.dumps(document)
    return [document, text, text.encode(), quote(text)]


@pytest.mark.fuzz
@given(st.one_of(_documents, _json))
def test_anything_parses_or_fails_with_the_documented_error(document: Any) -> None:
    for encoded in _encodings(document):
        try:
            parsed = parse_policy(encoded)
        except PolicyParseError:
            continue
        allow_grants(parsed)  # what parses can be judged
        again = parse_policy(json.loads(parsed.canonical_json))
        assert again.canonical_json == parsed.canonical_json  # the canonical form is a fixed point


_actions = st.sampled_from(
    ["s3:GetObject", "s3:PutObject", "iam:PassRole", "lambda:InvokeFunction", "s3:Get*", "ec2:*"]
)
_resources = st.sampled_from(
    ["*", "arn:aws:s3:::b/*", "arn:aws:iam::123456789012:role/x", "arn:aws:lambda:*:*:function:f"]
)


@st.composite
def _valid(draw: st.DrawFn) -> list[dict[str, Any]]:
    statements = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        statements.append(
            {
                "Effect": draw(st.sampled_from(["Allow", "Deny"])),
                "Action": draw(st.lists(_actions, min_size=1, max_size=3, unique=True)),
                "Resource": draw(st.lists(_resources, min_size=1, max_size=2, unique=True)),
            }
        )
    return statements


def _reshape(statements: list[dict[str, Any]], data: st.DataObject) -> dict[str, Any]:
    """The same permissions written another way: lists reordered, single values unwrapped, actions in
    another case, statements reordered, Sids added, one statement given as an object."""
    out = []
    for statement in data.draw(st.permutations(statements)):
        copy: dict[str, Any] = {"Effect": statement["Effect"]}
        for key in ("Action", "Resource"):
            values = data.draw(st.permutations(statement[key]))
            if key == "Action":
                values = [v.upper() if data.draw(st.booleans()) else v for v in values]
            copy[key] = values[0] if len(values) == 1 and data.draw(st.booleans()) else values
        if data.draw(st.booleans()):
            copy["Sid"] = data.draw(st.text(alphabet="abc123", min_size=1, max_size=5))
        out.append(copy)
    body: Any = out[0] if len(out) == 1 and data.draw(st.booleans()) else out
    return {"Version": "2012-10-17", "Statement": body}


@pytest.mark.fuzz
@given(_valid(), st.data())
def test_the_same_permissions_in_any_shape_or_encoding_have_one_hash(
    statements: list[dict[str, Any]], data: st.DataObject
) -> None:
    original = {"Version": "2012-10-17", "Statement": statements}
    reshaped = _reshape(statements, data)
    expected = policy_hash(original)
    for encoded in _encodings(reshaped):
        assert policy_hash(encoded) == expected


@pytest.mark.fuzz
@given(st.integers(min_value=100, max_value=5000), st.booleans())
def test_nesting_past_the_limit_is_a_parse_error_not_a_crash(depth: int, as_text: bool) -> None:
    """Deeper than the interpreter's own recursion limit too, as text and as an already parsed mapping."""
    condition: Any = "x"
    for _ in range(depth):
        condition = [condition]
    document = {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}}
    text = "[" * depth + '"x"' + "]" * depth
    with pytest.raises(PolicyParseError):
        parse_policy(
            ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": ' + text + "}}")
            if as_text
            else document
        )
