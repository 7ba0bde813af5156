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

from ams_iam_audit.accounts import ORGANIZATION_PERMISSIONS
from ams_iam_audit.audit_role import (
    AUDIT_ROLE_NAME,
    GITHUB_OIDC_HOST,
    audit_role_template,
    member_role_template,
    reach_accounts_policy,
    read_policy,
)
from ams_iam_audit.cli import main
from ams_iam_audit.inventory.collect import READ_PERMISSIONS

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "iam-audit.yml"
MATRIX = REPO / ".github" / "workflows" / "iam-audit-matrix.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab-ci.yml"
GITLAB_MATRIX = REPO / "examples" / "ci" / "gitlab-ci-matrix.yml"
TEMPLATE = REPO / "examples" / "ci" / "audit-role.cfn.json"
MEMBER_TEMPLATE = REPO / "examples" / "ci" / "audit-role-member.cfn.json"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: `make install` installs the dev extra")
    return str(path)


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        (WORKFLOW, "github-workflows"),
        (MATRIX, "github-workflows"),
        (GITLAB, "gitlab-ci"),
        (GITLAB_MATRIX, "gitlab-ci"),
    ],
)
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


def _matrix() -> dict[Any, Any]:
    return dict(yaml.safe_load(MATRIX.read_text()))


def _uses(steps: list[dict[str, Any]]) -> list[str]:
    return [s.get("uses", "").split("@")[0] for s in steps]


def test_the_matrix_workflow_audits_each_account_and_merges_one_report() -> None:
    """One job per account (OIDC into that account's audit role, its findings.json kept as an
    artifact), then a merge job that files one SARIF, one HTML report and the step summary, and
    fails when an account's job failed (that account is missing from the report)."""
    workflow = _matrix()
    assert workflow["permissions"] == {"contents": "read"}
    audit, merge = workflow["jobs"]["audit"], workflow["jobs"]["merge"]
    assert audit["permissions"] == {"contents": "read", "id-token": "write"}  # no code scanning writes here
    assert merge["permissions"] == {"contents": "read", "security-events": "write"}  # no AWS token there
    assert audit["strategy"]["fail-fast"] is False
    assert audit["strategy"]["matrix"]["account"] == "${{ fromJSON(vars.AWS_ACCOUNT_IDS) }}"
    steps = audit["steps"]
    uses = _uses(steps)
    credentials = steps[uses.index("aws-actions/configure-aws-credentials")]["with"]
    assert credentials["role-to-assume"] == f"arn:aws:iam::${{{{ matrix.account }}}}:role/{AUDIT_ROLE_NAME}"
    assert "aws-access-key-id" not in credentials
    run = next(s for s in steps if "pytest --aws-account" in s.get("run", ""))
    assert steps.index(run) == uses.index("aws-actions/configure-aws-credentials") + 1
    assert run["env"]["AWS_ACCOUNT_ID"] == "${{ matrix.account }}"
    keep = steps[uses.index("actions/upload-artifact")]
    assert keep["if"].startswith("always()")
    assert keep["with"]["path"] == "audit-report/findings.json"
    assert keep["with"]["name"] == "iam-audit-findings-${{ matrix.account }}"

    assert merge["needs"] == "audit"
    assert merge["if"].startswith("always()")  # failing accounts are reported too
    steps = merge["steps"]
    uses = _uses(steps)
    download = steps[uses.index("actions/download-artifact")]["with"]
    assert download["pattern"] == "iam-audit-findings-*"
    assert "merge-multiple" not in download  # every account's findings.json in its own directory
    merged = next(s for s in steps if "ams-iam-audit merge" in s.get("run", ""))
    assert steps.index(merged) == uses.index("actions/download-artifact") + 1
    order = ["actions/download-artifact", "github/codeql-action/upload-sarif", "actions/upload-artifact"]
    assert [u for u in uses if u in order] == order
    for upload in steps[steps.index(merged) + 1 :]:
        assert upload["if"].startswith("always()"), upload
    assert steps[uses.index("github/codeql-action/upload-sarif")]["with"]["sarif_file"] == "org-report/results.sarif"
    assert steps[uses.index("actions/upload-artifact")]["with"]["path"] == "org-report/"
    last = steps[-1]
    assert last["if"] == "always() && needs.audit.result != 'success'"
    assert "exit 1" in last["run"]


def test_the_gitlab_matrix_keeps_each_accounts_findings_apart() -> None:
    """GitLab extracts every parallel job's artifacts into one tree: each account writes its own
    directory, and the merge job takes them all."""
    pipeline = yaml.safe_load(GITLAB_MATRIX.read_text())
    audit, merge = pipeline["iam-audit"], pipeline["iam-audit-merge"]
    assert audit["parallel"]["matrix"][0]["AWS_ACCOUNT_ID"]
    run = next(line for line in audit["script"] if line.startswith("pytest --aws-account"))
    assert '--report-dir "audit-report/$AWS_ACCOUNT_ID"' in run
    assert audit["artifacts"]["paths"] == ["audit-report/$AWS_ACCOUNT_ID/findings.json"]
    assert merge["needs"] == [{"job": "iam-audit", "artifacts": True}]
    assert "ams-iam-audit merge audit-report/*/findings.json --out org-report" in merge["script"]


def _bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_matrix_steps_run_as_written(tmp_path: Path) -> None:
    """The audit step (demo account) passes on failing findings and fails on a usage error; the merge
    step, over findings laid out as download-artifact lays them out, files every output, exits 1 on
    failing findings and writes the organization summary to the step summary."""
    workflow = _matrix()
    audit = next(s for s in workflow["jobs"]["audit"]["steps"] if "pytest --aws-account" in s.get("run", ""))
    job = tmp_path / "job"
    job.mkdir()
    wrong = _bash(audit["run"], job, AWS_ACCOUNT_ID="not-an-account")
    assert wrong.returncode != 0, wrong.stdout + wrong.stderr  # exit 4: the job fails, the merge job says so
    proc = _bash(audit["run"], job, AWS_ACCOUNT_ID="demo", GITHUB_STEP_SUMMARY=str(tmp_path / "job-summary.md"))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # failing findings: the merge job's verdict
    findings = json.loads((job / "audit-report" / "findings.json").read_text())
    artifacts = tmp_path / "merge" / "findings"
    for account in ("123456789012", "210987654321"):  # the second: the same run, as another account's
        findings["run"]["account_id"] = account
        (artifacts / f"iam-audit-findings-{account}").mkdir(parents=True)
        (artifacts / f"iam-audit-findings-{account}" / "findings.json").write_text(json.dumps(findings))
    merge = next(s for s in workflow["jobs"]["merge"]["steps"] if "ams-iam-audit merge" in s.get("run", ""))
    summary = tmp_path / "step-summary.md"
    proc = _bash(merge["run"], tmp_path / "merge", GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("results.sarif", "report.html", "findings.json", "summary.md"):
        assert (tmp_path / "merge" / "org-report" / name).is_file(), name
    text = summary.read_text()
    assert text.startswith("## IAM audit: 2 accounts")
    assert "| 123456789012 |" in text
    assert "| 210987654321 |" in text


@pytest.mark.parametrize(
    ("args", "template"),
    [
        (["--github-repo", "example-org/platform-iam"], TEMPLATE),
        (["--trusted-account", "111111111111"], MEMBER_TEMPLATE),
    ],
)
def test_the_templates_are_what_the_tool_prints_and_lint_clean(
    args: list[str], template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit-role", *args]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(template.read_text())
    if shutil.which("cfn-lint", path=str(BIN)) is None:
        pytest.fail("cfn-lint is not installed: `make install` installs the dev extra")
    proc = subprocess.run([_tool("cfn-lint"), str(template)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_member_role_reads_only_and_trusts_only_the_audit_role_of_the_audit_account() -> None:
    role = member_role_template("111111111111")["Resources"]["AuditRole"]["Properties"]
    assert role["RoleName"] == AUDIT_ROLE_NAME
    assert role["Policies"] == [{"PolicyName": "ams-iam-audit-read", "PolicyDocument": read_policy()}]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::111111111111:root"}}
    assert statement["Condition"] == {
        "ArnEquals": {
            "aws:PrincipalArn": {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::111111111111:role/{AUDIT_ROLE_NAME}"}
        }
    }


def test_reach_accounts_lets_the_ci_role_list_the_organization_and_assume_only_the_audit_role() -> None:
    plain = audit_role_template("example-org/platform-iam")["Resources"]["AuditRole"]["Properties"]["Policies"]
    reach = audit_role_template("example-org/platform-iam", reach_accounts=True)
    policies = reach["Resources"]["AuditRole"]["Properties"]["Policies"]
    assert policies == [
        *plain,
        {"PolicyName": "ams-iam-audit-reach-accounts", "PolicyDocument": reach_accounts_policy()},
    ]
    listing, assume = reach_accounts_policy()["Statement"]
    assert listing["Action"] == list(ORGANIZATION_PERMISSIONS)
    assert assume["Action"] == "sts:AssumeRole"
    assert assume["Resource"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/{AUDIT_ROLE_NAME}"}


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
        (["--trusted-account", "12345"], "--trusted-account '12345': not an account id (12 digits)"),
        (["--trusted-account", "111111111111", "--branch", "x"], "apply to --github-repo only"),
    ],
)
def test_bad_audit_role_input_names_it(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-role", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # nothing half-printed
