"""``--fix`` that cannot break production, and the demo's terminal free of its moto server's log."""

from __future__ import annotations

import json

import pytest
from conftest import AuditResult, run_audit

# --- the demo's terminal --------------------------------------------------------------------------


def test_the_demo_fix_prints_no_moto_traceback(pytester: pytest.Pytester) -> None:
    """The demo's moto server lacks calls ``--fix`` makes (ListServiceSpecificCredentials when a user
    is retired): its own log of them must not reach the user's terminal."""
    result: AuditResult = run_audit(pytester, "--aws-account", "demo", "--fix", subprocess=True)
    assert result.ret == 1
    assert result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_03_11_14_22_05")["outcome"] == "fixed"
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        assert "NotImplementedError" not in stream
        assert "Error on request" not in stream
    assert json.loads((result.report_dir / "fix-plan.json").read_text())["mode"] == "apply"
