"""The outputs rendered from findings: the findings schema, SARIF (validated against the SARIF 2.1.0
schema), the Markdown summary, re-rendering offline, the size of a large HTML report, waivers and
baselines. The HTML report in a real browser is ``test_browser.py``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import ACCOUNT, Account, AuditResult, demo_audit, run_audit
from demo_table import DEMO_FAILING

from ams_iam_audit.cli import main as cli
from ams_iam_audit.findings import Finding, findings_document
from ams_iam_audit.findings.schema import SchemaError, validate_findings
from ams_iam_audit.findings.waivers import WaiverError, load_waivers
from ams_iam_audit.jsonio import encode_json
from ams_iam_audit.report import render_outputs, write_findings
from ams_iam_audit.report.render import render_html, render_markdown
from ams_iam_audit.report.sarif import sarif_document

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json").read_text())


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    """The demo account audited once (in a subprocess: the demo is its own moto server)."""
    pytester_dir = tmp_path_factory.mktemp("demo-report")
    return demo_audit(pytester_dir, "-q", "--junitxml", str(pytester_dir / "report" / "junit.xml"))


def test_every_output_is_written_and_the_findings_match_their_schema(demo_report: AuditResult) -> None:
    assert demo_report.ret == 1
    for name in ("findings.json", "report.html", "summary.md", "results.sarif", "junit.xml"):
        assert (demo_report.report_dir / name).stat().st_size > 0, name
    validate_findings(demo_report.document)
    broken = json.loads(json.dumps(demo_report.document))
    broken["findings"][0]["outcome"] = "maybe"
    with pytest.raises(SchemaError, match="at findings/0/outcome"):
        validate_findings(broken)


def test_sarif_is_valid_and_tracks_each_failing_finding(demo_report: AuditResult) -> None:
    sarif = json.loads((demo_report.report_dir / "results.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    (run,) = sarif["runs"]
    failing = [f for f in demo_report.findings if f["outcome"] == "fail"]
    assert len(run["results"]) == len(failing) == DEMO_FAILING
    prints = [r["partialFingerprints"]["amsIamAudit/v1"] for r in run["results"]]
    assert len(set(prints)) == len(prints)
    assert prints == [
        r["partialFingerprints"]["amsIamAudit/v1"] for r in sarif_document(demo_report.written)["runs"][0]["results"]
    ]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["AMS-USER-001"]["properties"]["security-severity"] == "8.0"
    assert "Remediation:" in rules["AMS-USER-001"]["help"]["text"]
    critical = next(r for r in run["results"] if r["ruleId"] == "AMS-S3-001" and r["level"] == "error")
    assert critical["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(f"aws/{ACCOUNT}/")


def test_the_report_command_renders_the_same_outputs_offline(demo_report: AuditResult, tmp_path: Path) -> None:
    assert cli(["report", str(demo_report.report_dir / "findings.json"), "--out", str(tmp_path)]) == 0
    for name in ("report.html", "summary.md", "results.sarif"):
        assert (tmp_path / name).read_text() == (demo_report.report_dir / name).read_text(), name
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "ams-iam-audit/findings", "version": 1}')
    assert cli(["report", str(bad)]) == 2


def test_the_demos_findings_json_written_as_a_stream_has_the_whole_encoders_bytes(
    demo_report: AuditResult, tmp_path: Path
) -> None:
    document = demo_report.written
    findings = [Finding.from_json(f) for f in document["findings"]]
    head = ("format", "version", "run", "coverage", "rules", "findings", "compliance")
    extra = {k: v for k, v in document.items() if k not in head}
    args = (document["rules"], document["run"], document["coverage"], extra)
    written = write_findings(tmp_path / "findings.json", findings, *args)
    streamed = (tmp_path / "findings.json").read_bytes()
    assert streamed == encode_json(findings_document(findings, *args))
    assert streamed == (demo_report.report_dir / "findings.json").read_bytes()  # what the audit wrote
    assert written == document


def test_markdown_summary_goes_to_the_github_step_summary(
    demo_report: AuditResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    render_outputs(demo_report.written, tmp_path / "out")
    text = summary.read_text()
    assert text.startswith("earlier step\n## IAM audit: account 123456789012 (demo)")
    assert f"**{DEMO_FAILING} failing finding(s)**" in text
    assert "| AMS-S3-001 | high | 9 | 0 | 0 | 0 | 8 | No wildcard S3 grants |" in text


def test_markdown_escapes_what_it_shows() -> None:
    document = _document([_finding("AMS-S3-001", "policy/x", "fail", message="a | b <img src=x onerror=alert(1)>")])
    text = render_markdown(document)
    assert "a \\| b &lt;img src=x onerror=alert(1)&gt;" in text
    assert "<img" not in text


def test_ten_thousand_findings_stay_under_five_megabytes() -> None:
    """A large account's report: static text is not repeated per row, passes carry no evidence,
    long evidence is shortened (findings.json keeps it)."""
    findings = synthetic_findings(10_000)
    html = render_html(_document(findings))
    size = len(html.encode())
    assert size < 5 * 1024 * 1024, f"{size / 1e6:.1f} MB"
    assert html.count('class="finding"') == sum(1 for f in findings if f["outcome"] != "pass")


def synthetic_findings(count: int) -> list[dict[str, Any]]:
    """A large account's findings (also used by bench/report_size.py): 70% passes, the rest failing,
    erroring, waived or fixed, each with a realistic statement's evidence."""
    rng = random.Random(7)
    findings = []
    for i in range(count):
        outcome = rng.choices(["pass", "fail", "error", "waived", "fixed"], [70, 24, 2, 2, 2])[0]
        evidence: dict[str, Any] = {}
        if outcome != "pass":
            evidence = {
                "policy": f"policy/app-{i}",
                "statements": [
                    {
                        "statement_index": 0,
                        "sid": "Data",
                        "statement": {"Effect": "Allow", "Action": ["s3:*", "logs:PutLogEvents"], "Resource": "*"},
                        "actions": ["s3:GetObject", "s3:PutObject"],
                        "action_count": 168,
                    }
                ],
                "attached_to": [f"arn:aws:iam::{ACCOUNT}:role/app-{i}-{j}" for j in range(3)],
            }
        findings.append(_finding(f"AMS-S3-00{1 + i % 2}", f"policy/app-{i}", outcome, evidence=evidence))
    return findings


def _finding(rule_id: str, resource: str, outcome: str, message: str = "m", evidence: Any = None) -> dict[str, Any]:
    return {
        "rule_id": rule_id,
        "title": "t",
        "severity": "high",
        "area": "s3",
        "outcome": outcome,
        "resource": resource,
        "resource_arn": None,
        "message": message,
        "remediation": "r",
        "evidence": evidence or {},
        "nodeid": "",
        "waiver": None,
        "baseline": None,
    }


def _document(findings: list[dict[str, Any]]) -> dict[str, Any]:
    rules = [
        {
            "id": r,
            "title": "t",
            "severity": "high",
            "area": "s3",
            "rationale": "why",
            "remediation": "r",
            "controls": {"cis_aws_foundations": [], "nist_800_53": ["AC-6"], "soc2": []},
        }
        for r in sorted({f["rule_id"] for f in findings})
    ]
    run = {"account_id": ACCOUNT, "started_at": "2026-01-01T00:00:00+00:00", "tool_version": "0", "complete": True}
    document = {
        "format": "ams-iam-audit/findings",
        "version": 1,
        "run": run,
        "coverage": [],
        "rules": rules,
        "findings": findings,
    }
    validate_findings(document)
    return document


# --- waivers ------------------------------------------------------------------------------------


def _temporary_user(aws: Account, name: str = "AI_MODELSHARE_2024_01_01_00_00_00") -> None:
    aws.iam.create_user(UserName=name)


def test_an_active_waiver_waives_and_an_expired_one_does_not(pytester: pytest.Pytester, aws: Account) -> None:
    _temporary_user(aws)
    _temporary_user(aws, "AI_MODELSHARE_2024_02_02_00_00_00")
    waivers = pytester.path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nrule = "AMS-USER-001"\nresource = "user/AI_MODELSHARE_2024_01_*"\n'
        'justification = "migration ticket ML-7"\nowner = "ml-platform@example.com"\nexpires = 2999-01-01\n\n'
        '[[waiver]]\nrule = "AMS-USER-001"\nresource = "user/AI_MODELSHARE_2024_02_*"\n'
        'justification = "was fine last year"\nowner = "bob"\nexpires = 2020-01-01\n'
    )
    result = run_audit(
        pytester,
        "--aws-account",
        ACCOUNT,
        "--aws-endpoint-url",
        aws.url,
        "--waivers",
        str(waivers),
        "-k",
        "AMS-USER-001",
    )
    assert result.ret == 1  # the expired waiver's finding fails
    waived = result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_01_01_00_00_00")
    assert waived["outcome"] == "waived"
    assert waived["waiver"]["justification"] == "migration ticket ML-7"
    expired = result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_02_02_00_00_00")
    assert expired["outcome"] == "fail"
    assert expired["message"].endswith("(waiver expired 2020-01-01)")
    assert [w["status"] for w in result.written["waivers"]] == ["active", "expired"]
    assert [w["applied_to"] for w in result.written["waivers"]] == [1, 0]
    assert "1 failed" in result.counts_line
    assert "1 xfailed" in result.counts_line
    assert (
        f"expired waiver: AMS-USER-001 user/AI_MODELSHARE_2024_02_* (expired 2020-01-01, {waivers}:8)" in result.stdout
    )
    html = (result.report_dir / "report.html").read_text()
    assert "migration ticket ML-7" in html


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "w.toml",
            '[[waiver]]\nrule = "AMS-USER-001"\nresource = "*"\nexpires = 2030-01-01\n',
            "w.toml:1: 'justification' is required",
        ),
        (
            "w.toml",
            '[[waiver]]\nrule = "AMS-USER-001"\nresource = "*"\njustification = "x"\nexpires = 2030-01-01\n\n'
            '[[waiver]]\nrule = "AMS-USER-001"\nresource = "*"\njustification = "x"\nexpires = "soon"\n',
            "w.toml:7: expires 'soon' is not a date (YYYY-MM-DD)",
        ),
        (
            "w.toml",
            '[[waiver]]\nrule = "AMS-USER-001"\nresource = "*"\njustification = "x"\nexpires = 2030-01-01\n'
            'ownr = "me"\n',
            "w.toml:1: unknown field(s) ownr",
        ),
        ("w.toml", '[[waiver]\nrule = "x"\n', "w.toml: not valid TOML"),
        (
            "w.yaml",
            "waiver:\n  - rule: AMS-USER-001\n    resource: '*'\n    justification: x\n    expires: 2030-01-01\n"
            "  - rule: USER-1\n    resource: '*'\n    justification: x\n    expires: 2030-01-01\n",
            "w.yaml:6: rule 'USER-1' is not a rule id (like AMS-S3-001)",
        ),
        ("w.yaml", "waiver:\n  - rule: AMS-USER-001\n   bad: [\n", "w.yaml:3: not valid YAML"),
        ("w.json", "{}", "w.json: a waiver file is .toml, .yaml or .yml"),
    ],
)
def test_a_malformed_waiver_file_names_the_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(WaiverError) as caught:
        load_waivers(path)
    assert str(caught.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_a_malformed_waiver_file_stops_the_run_before_auditing(pytester: pytest.Pytester, aws: Account) -> None:
    bad = pytester.path / "w.yaml"
    bad.write_text("waiver:\n  - rule: AMS-USER-001\n    resource: '*'\n")
    result = run_audit(pytester, "--aws-account", ACCOUNT, "--aws-endpoint-url", aws.url, "--waivers", str(bad))
    assert result.ret == 4
    assert f"--waivers: {bad}:2: 'justification' is required" in result.stderr
    assert result.document is None


def test_yaml_waivers_work_like_toml(tmp_path: Path) -> None:
    path = tmp_path / "w.yml"
    path.write_text(
        "waiver:\n  - rule: AMS-S3-001\n    resource: bucket/*\n    justification: archive\n"
        "    owner: data\n    expires: 2030-06-30\n"
    )
    (waiver,) = load_waivers(path)
    assert (waiver.rule_id, waiver.resource, waiver.owner, str(waiver.expires)) == (
        "AMS-S3-001",
        "bucket/*",
        "data",
        "2030-06-30",
    )
    assert waiver.where == f"{path}:2"


# --- baselines ----------------------------------------------------------------------------------


def test_only_failures_missing_from_the_baseline_fail_the_run(pytester: pytest.Pytester, aws: Account) -> None:
    _temporary_user(aws)
    _temporary_user(aws, "AI_MODELSHARE_2024_02_02_00_00_00")
    args = ("--aws-account", ACCOUNT, "--aws-endpoint-url", aws.url, "-k", "AMS-USER-001")
    first = run_audit(pytester, *args)
    assert first.ret == 1
    baseline = first.report_dir / "findings.json"

    aws.iam.delete_user(UserName="AI_MODELSHARE_2024_02_02_00_00_00")
    same = run_audit(pytester, *args, "--baseline", str(baseline))
    assert same.ret == 0
    assert same.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_01_01_00_00_00")["baseline"] == "unchanged"
    assert same.written["baseline"]["resolved"] == []  # a deleted user is not judged: not claimed resolved

    _temporary_user(aws, "AI_MODELSHARE_2025_03_03_00_00_00")
    grown = run_audit(pytester, *args, "--baseline", str(baseline))
    assert grown.ret == 1
    assert grown.written["baseline"]["new"] == [
        {"rule_id": "AMS-USER-001", "resource": "user/AI_MODELSHARE_2025_03_03_00_00_00"}
    ]
    assert "against the baseline: 1 new, 1 unchanged, 0 resolved" in grown.stdout
    sarif = json.loads((grown.report_dir / "results.sarif").read_text())
    assert sorted(r["baselineState"] for r in sarif["runs"][0]["results"]) == ["new", "unchanged"]


def test_a_baseline_that_is_not_a_findings_file_is_refused(pytester: pytest.Pytester, aws: Account) -> None:
    bad = pytester.path / "old.json"
    bad.write_text('{"format": "something-else"}')
    result = run_audit(pytester, "--aws-account", ACCOUNT, "--aws-endpoint-url", aws.url, "--baseline", str(bad))
    assert result.ret == 4
    assert f"--baseline {bad}: not an ams-iam-audit findings file" in result.stderr
