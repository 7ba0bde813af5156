"""The CI recipes the README points to: the GitHub Actions workflow, the GitLab job and the audit
role's CloudFormation template are valid for their tools, hold the steps a platform team relies on,
and their audit command really runs (against the demo account)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ams_iam_audit.audit_role import AUDIT_ROLE_NAME, GITHUB_OIDC_HOST, audit_role_template, read_policy
from ams_iam_audit.cli import main
from ams_iam_audit.inventory.collect import READ_PERMISSIONS

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "iam-audit.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
TEMPLATE = REPO / "examples" / "ci" / "audit-role.cfn.json"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: `make install` installs the dev extra")
    return str(path)


@pytest.mark.parametrize(("path", "schema"), [(WORKFLOW, "github-workflows"), (GITLAB, "gitlab-ci")])
def test_recipes_are_valid_for_their_ci(path: Path, schema: str) -> None:
    """check-jsonschema's vendored schemas (no network): GitHub's workflow and GitLab's CI schema."""
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", f"vendor.{schema}", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _workflow() -> dict[Any, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text()))


def test_the_workflow_assumes_the_role_with_oidc_and_files_every_output() -> None:
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read", "id-token": "write", "security-events": "write"}
    steps = workflow["jobs"]["audit"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    order = [
        "aws-actions/configure-aws-credentials",
        "github/codeql-action/upload-sarif",
        "actions/upload-artifact",
    ]
    assert [u for u in uses if u in order] == order
    credentials = steps[uses.index("aws-actions/configure-aws-credentials")]["with"]
    assert set(credentials) >= {"role-to-assume", "role-session-name", "aws-region"}
    assert "aws-access-key-id" not in credentials  # no stored keys
    audit = next(s for s in steps if "pytest --aws-account" in s.get("run", ""))
    assert steps.index(audit) == uses.index("aws-actions/configure-aws-credentials") + 1
    for upload in steps[steps.index(audit) + 1 :]:
        assert upload["if"].startswith("always()"), upload  # the reports are filed when findings fail the job
    sarif = steps[uses.index("github/codeql-action/upload-sarif")]["with"]
    assert sarif["sarif_file"] == "audit-report/results.sarif"


def test_the_workflow_audit_step_runs_as_written(tmp_path: Path) -> None:
    """The step's own shell command, with the demo account for the repository variable: it audits,
    fails on findings (exit 1), writes what the next steps upload and the step summary."""
    audit = next(s for s in _workflow()["jobs"]["audit"]["steps"] if "pytest --aws-account" in s.get("run", ""))
    summary = tmp_path / "step-summary.md"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "AWS_ACCOUNT_ID": "demo",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", audit["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("results.sarif", "report.html", "findings.json"):
        assert (tmp_path / "audit-report" / name).is_file()
    assert "AMS-USER-001" in summary.read_text()


def test_the_template_is_what_the_tool_prints_and_lints_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-role", "--github-repo", "example-org/platform-iam"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(TEMPLATE.read_text())
    if shutil.which("cfn-lint", path=str(BIN)) is None:
        pytest.fail("cfn-lint is not installed: `make install` installs the dev extra")
    proc = subprocess.run([_tool("cfn-lint"), str(TEMPLATE)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_audit_role_reads_only_and_trusts_one_ref_of_one_repository() -> None:
    template = audit_role_template("example-org/platform-iam", branch="main")
    role = template["Resources"]["AuditRole"]["Properties"]
    assert role["RoleName"] == AUDIT_ROLE_NAME
    assert role["Policies"] == [{"PolicyName": "ams-iam-audit-read", "PolicyDocument": read_policy()}]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
            f"{GITHUB_OIDC_HOST}:sub": "repo:example-org/platform-iam:ref:refs/heads/main",
        }
    }
    environment = audit_role_template("example-org/platform-iam", branch=None, environment="audit")
    env_statement = environment["Resources"]["AuditRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert env_statement["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"] == (
        "repo:example-org/platform-iam:environment:audit"
    )


def test_read_policy_is_exactly_what_collection_reads(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read-policy"]) == 0
    (statement,) = json.loads(capsys.readouterr().out)["Statement"]
    assert statement["Action"] == sorted(READ_PERMISSIONS)
    assert all(a.split(":")[1][:3] in ("Get", "Lis", "Des", "Bat", "Gen", "GET") for a in statement["Action"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--github-repo", "platform-iam"], "--github-repo 'platform-iam': expected OWNER/REPO"),
        (["--github-repo", "org/repo*"], "--github-repo 'org/repo*': expected OWNER/REPO"),
        (["--github-repo", "org/repo", "--branch", "main:*"], "--branch 'main:*': not a branch or environment name"),
        (["--github-repo", "org/repo", "--environment", "../x"], "--environment '../x': not a branch or environment"),
    ],
)
def test_bad_audit_role_input_names_it(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-role", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # nothing half-printed
