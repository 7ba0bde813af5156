"""The S3 rewrite on the library's own documents: it narrows what the finding asks, and never takes
away an action the refactored library grants the same workload (``s3:DeleteObject`` among them)."""

from __future__ import annotations

from typing import Any

import pytest

from ams_iam_audit import aimodelshare, allow_grants, least_privilege_s3, parse_policy

ACCOUNT = "123456789012"
BUCKET = "aimodelsharealice123456789012useast1"


def _s3_granted(document: Any) -> frozenset[str]:
    return frozenset(a for g in allow_grants(parse_policy(document)) for a in g.of_service("s3"))


def _with_s3(era: str) -> list[str]:
    return [
        n
        for n in aimodelshare.library_template_names()
        if _s3_granted(aimodelshare.library_template(era, n, bucket=BUCKET))
    ]


@pytest.mark.parametrize("era", ["legacy", "refactored"])
@pytest.mark.parametrize("name", sorted(set(_with_s3("legacy")) | set(_with_s3("refactored"))))
def test_rewrite_keeps_every_action_the_refactored_library_grants(era: str, name: str) -> None:
    document = aimodelshare.library_template(era, name, bucket=BUCKET)
    needed = _s3_granted(aimodelshare.library_template("refactored", name, bucket=BUCKET))
    before = _s3_granted(document)
    bucket = BUCKET if name.startswith("bucketpolicy") else None
    rewrite = least_privilege_s3(document, ACCOUNT, bucket=bucket)
    after = _s3_granted(rewrite.document) if rewrite.document is not None else before
    # what the workload needs, and the original granted, survives the rewrite
    assert needed & before <= after, sorted(needed & before - after)
    # and the rewrite never grants more than the original did
    assert after <= before


def test_the_guides_own_statement_keeps_delete_object() -> None:
    legacy = aimodelshare.library_template("legacy", "bucketpolicy_custom_s3_policy", bucket=BUCKET)
    rewrite = least_privilege_s3(legacy, ACCOUNT)
    assert rewrite.document is not None
    assert "s3:deleteobject" in _s3_granted(rewrite.document)
    assert "s3:deletebucket" not in _s3_granted(rewrite.document)


def test_library_s3_actions_are_what_the_refactored_library_grants() -> None:
    refactored: set[str] = set()
    for name in aimodelshare.library_template_names():
        refactored |= _s3_granted(aimodelshare.library_template("refactored", name, bucket=BUCKET))
    for spec in aimodelshare.shared_roles():
        refactored |= _s3_granted(spec.policy)
    assert {a.lower() for a in aimodelshare.library_s3_actions()} == refactored
