"""The built-in rule functions, called directly (as the plugin calls them) by the fast verdict tests:
importable once their markers are registered, which the plugin does only in audit mode."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from ams_iam_audit import Evidence
from ams_iam_audit.rule import AREAS, Severity

#: rule module by short name ("s3", "privilege", "exec"), filled by :func:`load_rules`
RULES: dict[str, Any] = {}
_MODULES = {
    "s3": "ams_iam_audit.rules.test_s3",
    "privilege": "ams_iam_audit.rules.test_privilege",
    "exec": "ams_iam_audit.rules.test_execution_role",
}


def load_rules(config: pytest.Config) -> None:
    """Register the rules' markers, then import the rule modules into :data:`RULES`."""
    for marker in [s.value for s in Severity] + list(AREAS):
        config.addinivalue_line("markers", f"{marker}: ams-iam-audit rules")
    for name, module in _MODULES.items():
        RULES[name] = importlib.import_module(module)


def judge(call: Callable[[Evidence], None]) -> tuple[str, Evidence, str]:
    """("pass" | "fail", the evidence recorded, the failure message)."""
    evidence = Evidence()
    try:
        call(evidence)
    except AssertionError as failure:
        return "fail", evidence, str(failure)
    return "pass", evidence, ""
