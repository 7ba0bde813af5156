"""``ams-iam-audit merge``: two real runs of two accounts (the embedded demo, and a moto account
audited through an assumed role as a CI matrix job would) become one organization's report; what
cannot be one report is refused, naming both files and the values; the merged outputs validate
and the HTML works in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from conftest import ACCOUNT, OTHER_ACCOUNT, demo_audit
from test_browser import CHROMEDRIVER, CHROMIUM, _requests, _visible_rows, browser  # noqa: F401 (fixture)

from ams_iam_audit.cli import main as cli
from ams_iam_audit.findings.baseline import BaselineError, load_baseline, ruleset_digest
from ams_iam_audit.findings.schema import SchemaError, validate_findings
from ams_iam_audit.report.merge import MERGED_VERSION
from ams_iam_audit.report.sarif import sarif_document

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json").read_text())
OUTPUTS = ("findings.json", "report.html", "summary.md", "results.sarif")
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@dataclass(frozen=True)
class Runs:
    demo: Path  # account ACCOUNT, the embedded demo
    other: Path  # account OTHER_ACCOUNT: a few legacy leftovers, read through an assumed role

    def document(self, which: str) -> dict[str, Any]:
        return dict(json.loads(getattr(self, which).read_text()))


def _other_account_run(url: str, workdir: Path) -> Path:
    """OTHER_ACCOUNT on the test's moto server, seeded through an assumed role, then audited as a
    matrix job does: ``--aws-role-arn`` into the account, in a subprocess."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/ams-iam-audit-readonly"
    creds = boto3.client("sts", endpoint_url=url, region_name="us-east-1").assume_role(
        RoleArn=role, RoleSessionName="seed"
    )["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    iam = session.client("iam", endpoint_url=url)
    assert session.client("sts", endpoint_url=url).get_caller_identity()["Account"] == OTHER_ACCOUNT
    iam.create_user(UserName="AI_MODELSHARE_2024_05_06_07_08_09")
    iam.create_access_key(UserName="AI_MODELSHARE_2024_05_06_07_08_09")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName="lambda_role_a1b2c3", AssumeRolePolicyDocument=json.dumps(trust))
    report = workdir / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--aws-account", OTHER_ACCOUNT, "--aws-role-arn", role,
         "--aws-endpoint-url", url, "-p", "no:cacheprovider", "-p", "no:randomly", "--report-dir", str(report)],
        cwd=workdir, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return report / "findings.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Runs:
    demo_run = demo_audit(tmp_path_factory.mktemp("demo-run"), "-q")
    assert demo_run.ret == 1
    return Runs(
        demo=demo_run.report_dir / "findings.json",
        other=_other_account_run(moto_url, tmp_path_factory.mktemp("other-run")),
    )


@pytest.fixture(scope="module")
def merged(runs: Runs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("merged") / "org-report"
    assert cli(["merge", str(runs.other), str(runs.demo), "--out", str(out)]) == 1  # failing findings
    return out


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def _merge(capsys: pytest.CaptureFixture[str], *args: Path | str) -> tuple[int, str]:
    code = cli(["merge", *map(str, args)])
    return code, capsys.readouterr().err


def test_the_merged_findings_hold_every_account_and_validate(runs: Runs, merged: Path) -> None:
    document = json.loads((merged / "findings.json").read_text())
    validate_findings(document)
    assert document["version"] == MERGED_VERSION
    assert document["run"]["accounts"] == sorted([ACCOUNT, OTHER_ACCOUNT])
    assert "account_id" not in document["run"]
    for name in OUTPUTS:
        assert (merged / name).stat().st_size > 0, name
    # every finding of each run, and nothing else, now names its account
    for which, account in (("demo", ACCOUNT), ("other", OTHER_ACCOUNT)):
        own = runs.document(which)
        mine = [
            {k: v for k, v in f.items() if k != "account_id"}
            for f in document["findings"]
            if f["account_id"] == account
        ]
        assert sorted(mine, key=json.dumps) == sorted(own["findings"], key=json.dumps)
        (section,) = [a for a in document["accounts"] if a["account_id"] == account]
        assert section["run"] == own["run"]
        assert section["coverage"] == own["coverage"]
        assert section["source_file"] == str(getattr(runs, which))
    assert len(document["findings"]) == len(runs.document("demo")["findings"]) + len(runs.document("other")["findings"])
    assert document["run"]["ruleset_sha256"] == runs.document("demo")["run"]["ruleset_sha256"]
    # role/x in two accounts is two resources: the compliance view counts each account's
    demo_doc, other_doc = runs.document("demo"), runs.document("other")
    for framework, a, b in zip(document["compliance"], demo_doc["compliance"], other_doc["compliance"], strict=True):
        for merged_c, demo_c, other_c in zip(framework["controls"], a["controls"], b["controls"], strict=True):
            assert merged_c["failing_resources"] == demo_c["failing_resources"] + other_c["failing_resources"]


def test_the_organization_summary_counts_each_account_worst_first(runs: Runs, merged: Path) -> None:
    document = json.loads((merged / "findings.json").read_text())
    rows = document["organization"]["accounts"]
    expected = {}
    for which in ("demo", "other"):
        own = runs.document(which)
        failing = Counter(f["severity"] for f in own["findings"] if f["outcome"] in ("fail", "error"))
        expected[own["run"]["account_id"]] = {s: failing[s] for s in ("critical", "high", "medium", "low", "info")}
    assert {r["account_id"]: r["by_severity"] for r in rows} == expected
    assert [r["account_id"] for r in rows] == [ACCOUNT, OTHER_ACCOUNT]  # the demo has more critical findings
    assert expected[ACCOUNT]["critical"] > expected[OTHER_ACCOUNT]["critical"]
    assert document["organization"]["by_severity"] == {
        s: expected[ACCOUNT][s] + expected[OTHER_ACCOUNT][s] for s in expected[ACCOUNT]
    }
    markdown = (merged / "summary.md").read_text()
    assert markdown.startswith("## IAM audit: 2 accounts\n")
    table = [
        line
        for line in markdown.splitlines()
        if line.startswith(f"| {ACCOUNT} |") or line.startswith(f"| {OTHER_ACCOUNT} |")
    ]
    assert [line.split(" | ")[0] for line in table] == [f"| {ACCOUNT}", f"| {OTHER_ACCOUNT}"]
    assert f"`{OTHER_ACCOUNT}:user/AI_MODELSHARE_2024_05_06_07_08_09`" in markdown  # the failing findings


def test_the_merged_sarif_keeps_each_accounts_fingerprints(runs: Runs, merged: Path) -> None:
    """Code scanning tracks the same alerts whether an account ran alone or in the matrix."""
    sarif = json.loads((merged / "results.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    (run,) = sarif["runs"]
    prints = {r["partialFingerprints"]["amsIamAudit/v1"] for r in run["results"]}
    alone = {
        r["partialFingerprints"]["amsIamAudit/v1"]
        for which in ("demo", "other")
        for r in sarif_document(runs.document(which))["runs"][0]["results"]
    }
    assert prints == alone
    assert len(prints) == len(run["results"])
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].split("/")[1] for r in run["results"]}
    assert uris == {ACCOUNT, OTHER_ACCOUNT}
    assert run["automationDetails"]["id"] == "ams-iam-audit/organization/"


def test_the_report_command_renders_the_merged_file_the_same(merged: Path, tmp_path: Path) -> None:
    assert cli(["report", str(merged / "findings.json"), "--out", str(tmp_path)]) == 0
    for name in ("report.html", "summary.md", "results.sarif"):
        assert (tmp_path / name).read_text() == (merged / name).read_text(), name


def test_the_order_of_the_files_changes_nothing(runs: Runs, merged: Path, tmp_path: Path) -> None:
    assert cli(["merge", str(runs.demo), str(runs.other), "--out", str(tmp_path)]) == 1
    one, two = (json.loads((d / "findings.json").read_text()) for d in (merged, tmp_path))
    for document in (one, two):
        del document["run"]["merged_at"], document["run"]["command_line"]
    assert one == two


def test_a_file_merged_with_itself_is_refused(runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _merge(capsys, runs.demo, runs.other, runs.demo, "--out", out)
    assert code == 2
    assert f"{runs.demo} is given twice" in err
    copy = _write(tmp_path / "copy" / "findings.json", runs.document("demo"))
    code, err = _merge(capsys, runs.demo, copy, "--out", out)
    assert code == 2
    assert f"{runs.demo} and {copy} are both runs of account {ACCOUNT}" in err
    assert not out.exists()  # nothing written


def test_runs_of_different_rule_sets_are_refused(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A matrix job with another rule file (or another tool) judged by other rules: refused, naming
    both files, both digests and the rules that differ."""
    other = runs.document("other")
    mine = other["run"]["ruleset_sha256"]
    other["rules"][0]["severity"] = "low" if other["rules"][0]["severity"] != "low" else "high"
    theirs = other["run"]["ruleset_sha256"] = ruleset_digest(other["rules"])
    changed = _write(tmp_path / "changed.json", other)
    code, err = _merge(capsys, runs.demo, changed, "--out", tmp_path / "out")
    assert code == 2
    assert f"{runs.demo} has rule-set digest {mine}, {changed} {theirs}" in err
    assert f"rules that differ: {other['rules'][0]['id']}" in err
    # a digest that is not that of the file's own rules: edited after the run
    edited = runs.document("other")
    edited["rules"][0]["title"] = "anything"
    path = _write(tmp_path / "edited.json", edited)
    code, err = _merge(capsys, runs.demo, path, "--out", tmp_path / "out")
    assert code == 2
    assert f"{path}: its rule-set digest {mine} is not that of the rules it holds" in err
    # another action catalogue decides other outcomes
    catalogue = runs.document("other")
    catalogue["run"]["action_catalogue"] = "policy_sentry 0.0.1"
    path = _write(tmp_path / "catalogue.json", catalogue)
    code, err = _merge(capsys, runs.demo, path, "--out", tmp_path / "out")
    assert code == 2
    assert f"{path} with 'policy_sentry 0.0.1'" in err
    assert not (tmp_path / "out").exists()


def test_other_schema_versions_and_merged_files_are_refused(
    runs: Runs, merged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = runs.document("other")
    newer["version"] = 3
    path = _write(tmp_path / "newer.json", newer)
    code, err = _merge(capsys, runs.demo, path, "--out", tmp_path / "out")
    assert code == 2
    assert f"{runs.demo} is findings schema version 1, {path} version 3" in err
    code, err = _merge(capsys, runs.other, merged / "findings.json", "--out", tmp_path / "out")
    assert code == 2
    assert "version 2 is a merged file: merge the runs' own findings.json files" in err
    code, err = _merge(capsys, merged / "findings.json", "--out", tmp_path / "out")
    assert code == 2
    assert f"is already a merged findings file (accounts {ACCOUNT}, {OTHER_ACCOUNT})" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ('{"format": "something else"}', "not an ams-iam-audit findings file"),
        ('{"format": "ams-iam-audit/findings", "version": 1}', "does not match the findings schema"),
        ("\ufeff{}".encode("utf-16").decode("latin-1"), "UTF-16"),
    ],
)
def test_unusable_files_are_named(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("latin-1"))
    code, err = _merge(capsys, runs.demo, bad, "--out", tmp_path / "out")
    assert code == 2
    assert str(bad) in err
    assert message in err, err
    missing = tmp_path / "missing.json"
    code, err = _merge(capsys, missing, runs.demo, "--out", tmp_path / "out")
    assert code == 2
    assert str(missing) in err


def test_outputs_that_cannot_be_written_are_refused(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _merge(capsys, runs.demo, runs.other, "--out", runs.demo.parent)
    assert code == 2
    assert f"would overwrite the input {runs.demo}" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = _merge(capsys, runs.demo, runs.other, "--out", blocker)
    assert code == 2
    assert f"--out {blocker}: exists and is not a directory" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse: at least one FINDINGS.json
        cli(["merge", "--out", str(tmp_path)])
    assert exit_info.value.code == 2


def test_exit_status_is_zero_only_for_complete_clean_accounts(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = runs.document("other")
    for f in clean["findings"]:
        if f["outcome"] in ("fail", "error"):
            f["outcome"] = "pass"
    path = _write(tmp_path / "clean.json", clean)
    assert cli(["merge", str(path), "--out", str(tmp_path / "clean")]) == 0
    out = capsys.readouterr().out
    assert f"  {OTHER_ACCOUNT}: failing none; compliant\n" in out
    assert f"1 accounts, 0 failing finding(s): {tmp_path / 'clean' / 'report.html'}" in out
    summary = json.loads((tmp_path / "clean" / "findings.json").read_text())["organization"]["accounts"]
    assert [r["failing"] for r in summary] == [0]
    clean["run"]["complete"] = False
    clean["run"]["incomplete_reason"] = "stopped after the first failure (-x)"
    path = _write(tmp_path / "incomplete.json", clean)
    code, _ = _merge(capsys, path, "--out", tmp_path / "incomplete")
    assert code == 1  # not every case was judged: never a clean bill
    merged = json.loads((tmp_path / "incomplete" / "findings.json").read_text())
    assert merged["run"]["complete"] is False
    assert merged["run"]["incomplete_reason"] == f"account {OTHER_ACCOUNT}: stopped after the first failure (-x)"
    assert (
        "the run did not complete (stopped after the first failure"
        in (tmp_path / "incomplete" / "summary.md").read_text()
    )


def test_secrets_in_an_input_never_reach_the_merged_outputs(runs: Runs, tmp_path: Path) -> None:
    """A findings file from elsewhere (hand-edited, an older tool) is masked like a run's own."""
    leaky = runs.document("other")
    failing = next(f for f in leaky["findings"] if f["outcome"] == "fail")
    failing["message"] += f" key {KEY_ID}"
    failing["evidence"]["pasted"] = KEY_ID
    leaky["run"]["command_line"] += f" --note {KEY_ID}"
    path = _write(tmp_path / "leaky.json", leaky)
    assert cli(["merge", str(runs.demo), str(path), "--out", str(tmp_path / "out")]) == 1
    for name in OUTPUTS:
        text = (tmp_path / "out" / name).read_text()
        assert KEY_ID not in text, name
    assert "AKIA************MPLE" in (tmp_path / "out" / "findings.json").read_text()


def test_each_accounts_own_facts_are_shown_and_escaped(runs: Runs, tmp_path: Path) -> None:
    """Its baseline comparison, what could not be read and with which permission, and the file it
    came from (a hostile directory name stays text)."""
    other = runs.document("other")
    other["baseline"] = {
        "path": "earlier/findings.json",
        "account_id": OTHER_ACCOUNT,
        "new": [{"rule_id": "AMS-USER-001", "resource": "user/AI_MODELSHARE_2024_05_06_07_08_09"}],
        "unchanged": [],
        "resolved": [],
    }
    other["coverage"][0].update(readable=False, error="AccessDenied", missing_permission="iam:DeniedForTest")
    hostile = _write(tmp_path / "<img src=x onerror=alert(1)>" / "findings.json", other)
    out = tmp_path / "out"
    assert cli(["merge", str(runs.demo), str(hostile), "--out", str(out)]) == 1
    document = json.loads((out / "findings.json").read_text())
    validate_findings(document)
    (section,) = [a for a in document["accounts"] if a["account_id"] == OTHER_ACCOUNT]
    assert section["baseline"] == other["baseline"]
    html = (out / "report.html").read_text()
    account = html[html.index(f'id="account-{OTHER_ACCOUNT}"') :]
    account = account[: account.index("</section>")]
    assert "Against the baseline earlier/findings.json: 1 new, 0 unchanged, 0 resolved." in account
    assert "needs iam:DeniedForTest" in account
    assert "&lt;img src=x onerror=alert(1)&gt;" in account
    assert "<img" not in html
    section_name = other["coverage"][0]["section"]
    assert f"The {OTHER_ACCOUNT}:{section_name} section could not be read" in html  # the limitation names it


def test_a_merged_file_is_no_baseline_and_the_step_summary_gets_the_markdown(
    merged: Path, runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BaselineError, match=f"a merged findings file of accounts {ACCOUNT}, {OTHER_ACCOUNT}"):
        load_baseline(merged / "findings.json")
    broken = json.loads((merged / "findings.json").read_text())
    del broken["findings"][0]["account_id"]
    with pytest.raises(SchemaError, match="at findings/0"):
        validate_findings(broken)
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert cli(["merge", str(runs.demo), str(runs.other), "--out", str(tmp_path / "out")]) == 1
    assert summary.read_text().startswith("## IAM audit: 2 accounts\n")


@pytest.fixture
def chromium() -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")


def test_the_merged_report_in_chromium(merged: Path, runs: Runs, chromium: None, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    page = (merged / "report.html").as_uri()
    browser.get(page)
    assert browser.title == "IAM compliance report: 2 accounts"
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert _requests(browser, page) == []
    rows = browser.find_elements(By.CSS_SELECTOR, "#accounts-table tbody tr")
    assert [r.get_attribute("data-account") for r in rows] == [ACCOUNT, OTHER_ACCOUNT]
    assert browser.find_element(By.ID, f"account-{OTHER_ACCOUNT}").is_displayed()
    failing = sum(
        1
        for f in json.loads((merged / "findings.json").read_text())["findings"]
        if f["outcome"] != "pass" and f["outcome"] != "not-applicable"
    )
    assert len(_visible_rows(browser)) == failing
    browser.find_element(By.ID, "f-text").send_keys(OTHER_ACCOUNT)
    shown = _visible_rows(browser)
    other_failing = sum(1 for f in runs.document("other")["findings"] if f["outcome"] not in ("pass", "not-applicable"))
    assert len(shown) == other_failing
    assert all(r.text.startswith(f"{OTHER_ACCOUNT}:") for r in shown)
