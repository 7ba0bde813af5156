"""Where and as whom the audit runs: the documented default region on a bare CI runner, and the audit's
own identity (never the library's execution role it judges)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ACCOUNT, Account, audit_at

_EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aimodelshare-execution-role"


def _bare_runner(tmp_path: Path, url: str, *args: str, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``pytest --aws-account`` with credentials and nothing else: no region variable, no config or
    credentials file (HOME is an empty directory), only the endpoint of the moto server."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(home / "missing-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "missing-credentials"),
        **extra,
    }
    report = tmp_path / "report"
    command = [sys.executable, "-m", "pytest", "--aws-account", ACCOUNT, "--aws-endpoint-url", url,
               "-p", "no:cacheprovider", "-p", "no:randomly", "--report-dir", str(report), *args]  # fmt: skip
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, report / "findings.json"


def test_no_region_configured_audits_us_east_1(tmp_path: Path, aws: Account) -> None:
    """A runner with bare credentials: no NoRegionError (exit 4), the README's us-east-1 instead."""
    proc, findings = _bare_runner(tmp_path, aws.url, "-k", "AMS-EXEC-002")
    assert "NoRegionError" not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    meta = json.loads(findings.read_text())["run"]
    assert meta["regions"] == ["us-east-1"]
    assert meta["complete"] is True


def test_a_region_given_is_kept(tmp_path: Path, aws: Account) -> None:
    """The default applies only when nothing names a region: the environment's region still wins."""
    proc, findings = _bare_runner(tmp_path, aws.url, "-k", "AMS-EXEC-002", AWS_DEFAULT_REGION="eu-west-1")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert json.loads(findings.read_text())["run"]["regions"] == ["eu-west-1"]


def test_the_audit_never_runs_as_the_execution_role(
    pytester: pytest.Pytester, aws: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$AIMODELSHARE_EXECUTION_ROLE_ARN`` names the role the audit judges, not the one it runs as."""
    monkeypatch.setenv("AIMODELSHARE_EXECUTION_ROLE_ARN", _EXEC_ROLE)
    result = audit_at(pytester, aws.url, "-k", "AMS-EXEC-002")
    assert result.document is not None, result.stdout + result.stderr
    meta = result.document["run"]
    assert "assumed-role" not in meta["caller_arn"], meta["caller_arn"]
    assert meta["execution_role_arns"] == [_EXEC_ROLE]  # still the role judged
    # --aws-role-arn given explicitly is assumed, as before
    auditor = aws.role("auditor")
    explicit = audit_at(pytester, aws.url, "-k", "AMS-EXEC-002", "--aws-role-arn", auditor)
    assert explicit.document is not None
    assert explicit.document["run"]["caller_arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/auditor/")


def test_role_option_help_says_no_default(pytester: pytest.Pytester) -> None:
    help_text = " ".join(pytester.runpytest_inprocess("--help").stdout.str().split())
    assert "never defaults to $AIMODELSHARE_EXECUTION_ROLE_ARN" in help_text
