"""What a new user trips over first: options that do nothing without an account, runs that do not say
what they wrote, a demo that does not say it starts afresh, a --fix that does not say how to undo."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ACCOUNT, Account, audit_at, demo_audit, run_audit

from ams_iam_audit.cli import main

LEGACY_USER = "AI_MODELSHARE_2024_01_01_00_00_00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fix"], "--fix needs an account to audit: add --aws-account ID (or 'demo'), or --snapshot FILE"),
        (["--fix-dry-run", "--save-snapshot", "s.json"], "--fix-dry-run, --save-snapshot need an account to audit"),
    ],
)
def test_audit_options_without_an_account_are_a_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run_audit(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr


def test_the_run_says_what_it_saved_and_ends_with_the_report(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    snapshot = pytester.path / "saved.json"
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001", "--save-snapshot", str(snapshot))
    assert f"snapshot saved: {snapshot} (audit it offline with --snapshot)" in result.stdout
    last = result.stdout.rstrip().splitlines()[-1]
    assert last == f"ams-iam-audit report: {result.report_dir / 'report.html'} (1 failing finding(s))"


def test_a_fix_says_how_to_undo_it(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001", "--fix")
    (journal,) = result.report_dir.glob("fix-journal-*.jsonl")
    assert f"to undo: ams-iam-audit undo {journal} --aws-account {ACCOUNT}" in result.stdout


def test_the_demo_says_it_starts_afresh_and_undo_says_why_there_is_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = demo_audit(tmp_path, "-k", "AMS-USER-001")
    assert "the demo account is created afresh, from the same footprint, on every run" in result.stdout
    assert main(["undo", "journal.jsonl", "--aws-account", "demo"]) == 2
    assert "a demo --fix leaves nothing to undo" in capsys.readouterr().err


def test_help_names_what_each_option_takes(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--help")
    text = result.stdout.str()
    section = text[text.index("AWS IAM audit against the AIModelShare") :]
    assert "=VALUE" not in section
    for shown in ("--aws-account=ID|demo", "--snapshot=FILE", "--report-dir=DIR", "--fix-min-idle-days=DAYS"):
        assert shown in section
