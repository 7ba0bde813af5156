"""What an audit keeps until the end of the run, and what it lets go (bench/README.md, round 4): the
reports pytest's terminal keeps (``pytest_plugin.kept_reports``), botocore's session, the time zones
of dates as read from AWS, and the run's analyses. Each is smaller or gone; what the user sees is not."""

from __future__ import annotations

import gc
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from _pytest._code.code import ExceptionChainRepr, ReprEntry, ReprFileLocation, ReprTraceback
from _pytest._io import TerminalWriter
from conftest import Account, audit_at

from ams_iam_audit.inventory.gaad import parse_time
from ams_iam_audit.inventory.model import Inventory, Section
from ams_iam_audit.pytest_plugin.kept_reports import PASS_COUNTED, CompactFailure, compact_failure
from ams_iam_audit.scopes import AuditContext

#: a -p plugin: what the terminal holds when the run ends, as the terminal summary sees it
KEPT_PLUGIN = """
import json
from pathlib import Path

def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = terminalreporter.stats
    Path("kept.json").write_text(json.dumps({
        "passed": [r.nodeid for r in stats.get("passed", [])],
        "failed": [type(r.longrepr).__name__ for r in stats.get("failed", [])],
    }))
    plugin = config.pluginmanager.get_plugin("ams-iam-audit-session")
    Path("clients.json").write_text(json.dumps(plugin.run.clients is not None))
"""


def _seed(aws: Account) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.iam.create_user(UserName="owned")
    aws.policy("s3-all", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    aws.policy("s3-read", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::aimodelshare-x/*"})


def _kept(pytester: pytest.Pytester, aws: Account, *args: str) -> tuple[dict[str, list[str]], str]:
    pytester.makepyfile(kept_plugin=KEPT_PLUGIN)
    pytester.syspathinsert()
    result = audit_at(pytester, aws.url, "-p", "kept_plugin", *args, subprocess=True)
    assert result.document is not None, result.stdout
    return json.loads((pytester.path / "kept.json").read_text()), result.stdout


def test_passing_reports_are_a_count_unless_something_shows_them(pytester: pytest.Pytester, aws: Account) -> None:
    """By default the terminal shows no passing case: it keeps their count only, and prints the same
    counts. Asked to list passes (``-rA``) or durations, it keeps every report, and lists them."""
    _seed(aws)
    kept, stdout = _kept(pytester, aws)
    assert kept["passed"]
    assert set(kept["passed"]) == {""}
    assert f"{len(kept['passed'])} passed" in stdout
    for option in ("-rA", "-rp", "--durations=0"):
        shown, stdout = _kept(pytester, aws, option, "--durations-min=0")
        assert "" not in shown["passed"], option
        assert len(shown["passed"]) == len(kept["passed"]), option
        if option != "--durations=0":
            assert re.search(r"^PASSED rules/\S+::test_\w+\[", stdout, re.M), option
        else:
            assert re.search(r"^[\d.]+s call +rules/\S+::test_\w+\[", stdout, re.M), stdout


def test_a_rule_failure_keeps_its_lines_and_prints_what_pytest_printed(pytester: pytest.Pytester, aws: Account) -> None:
    """With the plugin's ``--tb=line`` each failure is kept compact and the FAILURES section and the
    short summary print the assertion's lines and crash line; another ``--tb`` keeps pytest's own."""
    _seed(aws)
    kept, stdout = _kept(pytester, aws)
    assert kept["failed"]
    assert set(kept["failed"]) == {"CompactFailure"}
    assert re.search(r"^E   AssertionError: .+\n    assert ", stdout, re.M), stdout
    assert re.search(r"^\S+/rules/test_\w+\.py:\d+: AssertionError: ", stdout, re.M), stdout
    assert re.search(r"^FAILED rules/\S+ - Assertio", stdout, re.M), stdout  # the crash message, cut to the width
    kept, stdout = _kept(pytester, aws, "--tb=short")
    assert set(kept["failed"]) == {"ExceptionChainRepr"}
    assert re.search(r"^\S*rules/test_\w+\.py:\d+: in test_\w+$", stdout, re.M), stdout


@pytest.mark.parametrize("option", [(), ("--fix-dry-run",)], ids=["audit", "fix-dry-run"])
def test_an_audit_lets_its_aws_session_go(pytester: pytest.Pytester, aws: Account, option: tuple[str, ...]) -> None:
    """Only --fix calls AWS after the account is read (its tests in test_fix.py need the session)."""
    _seed(aws)
    _kept(pytester, aws, *option)
    assert json.loads((pytester.path / "clients.json").read_text()) is False


def _failure(lines: list[str], *, style: str = "line", description: str | None = None) -> ExceptionChainRepr:
    crash = ReprFileLocation("/rules/test_x.py", 12, "AssertionError: <b>no</b> \x1b[31m\nassert not ['a']")
    entry = ReprEntry(lines, None, None, None, style)  # type: ignore[arg-type]
    return ExceptionChainRepr([(ReprTraceback([entry], None, style), crash, description)])  # type: ignore[arg-type]


def _printed(repr_: object, markup: bool) -> str:
    out = io.StringIO()
    tw = TerminalWriter(file=out)
    tw.hasmarkup = markup
    repr_.toterminal(tw)  # type: ignore[attr-defined]
    return out.getvalue()


@pytest.mark.parametrize(
    "lines",
    [
        ["E   AssertionError: user/x holds policies of its own", "    assert not ['managed p']"],
        ["E   AssertionError: one line"],
        ["    assert x", "E   AssertionError: after a source line", "E   and a second"],
        [],
    ],
)
def test_a_compact_failure_prints_the_same_bytes(lines: list[str]) -> None:
    full = _failure(lines)
    compact = compact_failure(full)
    assert isinstance(compact, CompactFailure)
    for markup in (False, True):
        assert _printed(compact, markup) == _printed(full, markup)
    assert str(compact) == str(full)
    assert compact.reprcrash is full.reprcrash
    assert str(compact.reprtraceback) == str(full.reprtraceback)  # anything else: pytest's tree, made again
    with pytest.raises(AttributeError):
        object.__new__(CompactFailure).reprcrash  # noqa: B018  (unset: an error, not a recursion)


def test_only_the_line_shape_is_compacted() -> None:
    lines = ["E   AssertionError: x"]
    assert compact_failure(_failure(lines, style="short")) is None
    assert compact_failure(_failure(lines, description="During handling of the above exception")) is None
    with_section = _failure(lines)
    with_section.addsection("Captured stdout call", "hello")
    assert compact_failure(with_section) is None
    assert compact_failure("a failure as text") is None
    assert compact_failure(None) is None
    assert PASS_COUNTED.passed
    assert PASS_COUNTED.nodeid == ""


def test_dates_from_botocore_keep_their_instant_in_utc() -> None:
    local = datetime(2024, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    kept = parse_time(local)
    assert kept == local
    assert kept is not None
    assert kept.tzinfo is UTC
    assert kept.hour == 3
    naive = datetime(2024, 1, 1, 5, 0)
    assert parse_time(naive) is naive
    utc = datetime(2024, 1, 1, 5, 0, tzinfo=UTC)
    assert parse_time(utc) is utc


def test_a_context_forgets_its_analyses_and_makes_them_again() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    context = AuditContext(inventory=Inventory("123456789012", "aws", at, None, (), (Section("iam", True),)))
    first = context.escalation
    context.forget_analyses()
    assert "escalation" not in vars(context)
    again = context.escalation
    assert again is not first
    assert type(again) is type(first)


def test_pytests_collections_at_the_end_do_not_walk_the_run(
    pytester: pytest.Pytester, aws: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest collects garbage at its unconfigure and in its cleanup; the run's objects are still out
    of the collector's way then (each would walk them all), and are given back once pytest is done:
    an in-process host finds nothing left frozen."""
    import _pytest.unraisableexception as unraisable

    frozen: list[int] = []
    collect = unraisable.gc_collect_harder

    def recorded(iterations: int) -> None:
        frozen.append(gc.get_freeze_count())
        collect(iterations)

    monkeypatch.setattr(unraisable, "gc_collect_harder", recorded)
    _seed(aws)
    before = gc.get_freeze_count()
    result = audit_at(pytester, aws.url)
    assert result.document is not None, result.stdout
    assert len(frozen) == 2, frozen  # pytest's unconfigure and its cleanup
    assert all(count > before + 10_000 for count in frozen), frozen
    assert gc.get_freeze_count() == before


#: a conftest: a reference cycle that becomes garbage while the cases are made, its finalizer raising
CYCLE_CONFTEST = """
class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        raise RuntimeError("the finalizer of a cycle dropped during collection")


def pytest_collection_modifyitems(items):
    Cycle()
"""


def test_garbage_among_the_runs_objects_is_collected_under_pytests_watch(
    pytester: pytest.Pytester, aws: Account
) -> None:
    """A cycle dropped before the run's objects are moved out of the collector's way is still
    collected before pytest's unraisable-exception check ends, and what its finalizer raises is
    reported as pytest reports it (a real process: pytester's in-process runs skip the check)."""
    _seed(aws)
    pytester.makeconftest(CYCLE_CONFTEST)
    result = audit_at(pytester, aws.url, subprocess=True)
    assert result.document is not None, result.stdout
    output = result.stdout + result.stderr
    assert "PytestUnraisableExceptionWarning" in output, output[-3000:]
    assert "the finalizer of a cycle dropped during collection" in output
