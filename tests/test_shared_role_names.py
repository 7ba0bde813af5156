"""The four shared roles' names, their policies' names and which legacy pattern each replaces have one
home: ``data/shared_roles.json``, read through ``ams_iam_audit.aimodelshare``. No module of the
package or its rules spells them, and a ``replaces`` that names no legacy pattern is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ams_iam_audit import aimodelshare

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_names_a_shared_role_or_its_policy() -> None:
    names = aimodelshare.shared_role_names() | aimodelshare.shared_policy_names()
    assert len(names) == 8
    spelled = re.compile("|".join(rf"(?<![\w-]){re.escape(n)}(?![\w-])" for n in sorted(names)))
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in ("ams_iam_audit", "rules")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if spelled.search(line)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("pattern", "role"),
    [
        ("codebuild_role", "aimodelshare-codebuild-role"),
        ("lambda_role_<api_id>", "aimodelshare-lambda-exec"),
        ("myService-dev-us-<region>-lambdaRole<id>", "aimodelshare-api-lambda-role"),
        ("lambda_invoke_function_assume_apigw_role_2", "aimodelshare-apigw-invoke-role"),
        ("<function>-codebuild-role", None),
        ("<project>-lambda-role", None),
    ],
)
def test_each_legacy_role_pattern_is_replaced_by_the_role_the_data_names(pattern: str, role: str | None) -> None:
    match = aimodelshare.role_pattern(pattern)
    assert match is not None
    assert match.replaced_by == role


@pytest.mark.parametrize(
    ("policy", "role"),
    [
        ("codebuild_policy", "aimodelshare-codebuild-role"),
        ("lambda_policy_a1b2c3", "aimodelshare-lambda-exec"),
        ("myService-dev-us-east-1-lambdaPolicy9f8e", "aimodelshare-api-lambda-role"),
        ("invokelambda", "aimodelshare-apigw-invoke-role"),
    ],
)
def test_each_legacy_policy_is_replaced_by_the_role_the_data_names(policy: str, role: str) -> None:
    match = aimodelshare.classify_policy(policy, ())
    assert match is not None
    assert match.replaced_by == role


def test_a_replacement_of_an_unknown_pattern_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data: dict[str, Any] = json.loads((ROOT / "ams_iam_audit" / "data" / "shared_roles.json").read_text())
    data["roles"][0]["replaces"] = ["codebuild-role"]  # a typo of codebuild_role
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shared_roles.json").write_text(json.dumps(data))
    monkeypatch.setattr(aimodelshare, "files", lambda package: tmp_path)
    aimodelshare.shared_roles.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"replaces unknown legacy patterns \['codebuild-role'\]"):
            aimodelshare.shared_roles()
    finally:
        monkeypatch.undo()
        aimodelshare.shared_roles.cache_clear()
    assert aimodelshare.replacement("codebuild_role") is not None
