"""The light runtest protocol (ams_iam_audit.pytest_plugin.protocol): the same reports as pytest's, and pytest's own
protocol wherever a case needs it."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import Account, AuditResult, audit_at

TEAM_RULES = """
import pytest
from ams_iam_audit import Controls, Evidence, User, rule

META = dict(severity="low", area="users", scope="user", rationale="r", remediation="r", controls=Controls())

@rule(id="AMS-TEAM-010", title="Users are tagged with an owner", **META)
def test_owner(user: User, evidence: Evidence) -> None:
    evidence.add(tags=dict(user.tags))
    if user.name == "crash":
        raise RuntimeError("the rule itself broke")
    if user.name == "skipped":
        pytest.skip("nothing to judge")
    assert "owner" in dict(user.tags), f"{user.name} has no owner tag"
"""


def _seed(aws: Account) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.iam.create_user(UserName="owned", Tags=[{"Key": "owner", "Value": "team-a"}])
    for name in ("crash", "skipped"):
        aws.iam.create_user(UserName=name)
    aws.policy("s3-all", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    aws.role("codebuild_role")


def _junit(path: Path) -> list[tuple[Any, ...]]:
    """Each JUnit test case as (classname, name, what it holds, its properties), without timings."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        children = tuple(sorted((c.tag, c.get("message", "")) for c in case if c.tag != "properties"))
        props = tuple((p.get("name"), p.get("value")) for p in case.iter("property"))
        cases.append((case.get("classname"), case.get("name"), children, props))
    return sorted(cases)


def _run(pytester: pytest.Pytester, aws: Account, *args: str) -> tuple[AuditResult, list[tuple[Any, ...]]]:
    junit = pytester.path / f"junit-{len(list(pytester.path.glob('junit-*')))}.xml"
    result = audit_at(pytester, aws.url, f"--junitxml={junit}", *args, subprocess=True)
    return result, _junit(junit)


def _counts(result: AuditResult) -> str:
    """pytest's closing line without its duration, e.g. "7 failed, 8 passed, 12 skipped"."""
    summary = [line for line in result.outcome_lines if " in " in line and "passed" in line]
    assert summary, result.stdout
    return summary[-1].split(" in ")[0]


def test_light_and_full_protocol_report_the_same(pytester: pytest.Pytester, aws: Account) -> None:
    _seed(aws)
    pytester.makepyfile(test_team=TEAM_RULES)
    light, light_junit = _run(pytester, aws, "test_team.py")
    full, full_junit = _run(pytester, aws, "test_team.py", "--full-protocol")
    # every outcome pytest can give a case: pass, fail, error, skip (not applicable) in both
    assert set(light.outcomes().values()) == {"pass", "fail", "error", "not-applicable"}
    assert light.findings == full.findings
    assert light_junit == full_junit
    assert light.ret == full.ret == 1
    assert _counts(light) == _counts(full)
    error = light.finding("AMS-TEAM-010", "user/crash")
    assert error["outcome"] == "error"
    assert "RuntimeError: the rule itself broke" in error["message"]
    assert light.finding("AMS-TEAM-010", "user/owned")["evidence"] == {"tags": {"owner": "team-a"}}


COUNTING_PLUGIN = """
import pytest

SEEN = {"setup": [], "call": []}

@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    SEEN["setup"].append(item.nodeid)
    return (yield)

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    SEEN["call"].append(item.nodeid)
    return (yield)

def pytest_sessionfinish(session):
    for when, nodeids in SEEN.items():
        with open(when + ".txt", "w") as out:
            out.write("\\n".join(nodeids))
"""


def _seen(pytester: pytest.Pytester, when: str) -> list[str]:
    """The cases whose setup or call hook pytest called (under -p counting)."""
    return [line for line in (pytester.path / f"{when}.txt").read_text().splitlines() if line]


def test_cases_that_need_pytest_protocol_get_it(pytester: pytest.Pytester, aws: Account) -> None:
    """A rule's own fixture, a marker pytest acts on (skip) or a project's autouse fixture sends a
    case through pytest's protocol; the setup hook shows which cases went there."""
    _seed(aws)
    pytester.makepyfile(counting=COUNTING_PLUGIN)
    pytester.makeconftest(
        textwrap.dedent("""
        import pytest

        @pytest.fixture
        def owner_tag():
            return "owner"
    """)
    )
    pytester.makepyfile(
        test_team=textwrap.dedent("""
        import pytest
        from ams_iam_audit import Controls, User, rule

        META = dict(severity="low", area="users", scope="user", rationale="r", remediation="r", controls=Controls())

        @rule(id="AMS-TEAM-011", title="own fixture", **META)
        def test_own_fixture(user: User, owner_tag: str) -> None:
            assert owner_tag in dict(user.tags)

        @pytest.mark.skip(reason="switched off by the team")
        @rule(id="AMS-TEAM-012", title="skipped by marker", **META)
        def test_marked(user: User) -> None:
            raise AssertionError("a skip marker must be honoured")

        @rule(id="AMS-TEAM-013", title="plain", **META)
        def test_plain(user: User) -> None:
            pass
    """)
    )
    args = ("-p", "counting", "--aws-no-builtin-rules", "test_team.py")
    result = audit_at(pytester, aws.url, *args, subprocess=True)
    assert {s.split("::")[1].split("[")[0] for s in _seen(pytester, "setup")} == {"test_own_fixture", "test_marked"}
    assert set(result.outcomes("AMS-TEAM-012").values()) == {"not-applicable"}
    assert result.outcomes("AMS-TEAM-011")["user/owned"] == "pass"
    assert set(result.outcomes("AMS-TEAM-013").values()) == {"pass"}

    pytester.makeconftest(
        (pytester.path / "conftest.py").read_text()
        + textwrap.dedent("""
        @pytest.fixture(autouse=True)
        def _audit_log():
            yield
    """)
    )
    audit_at(pytester, aws.url, *args, subprocess=True)
    assert len(_seen(pytester, "setup")) == 3 * 4  # every case of the three rules, one per user


def test_full_protocol_option_runs_every_case_through_pytest(pytester: pytest.Pytester, aws: Account) -> None:
    _seed(aws)
    pytester.makepyfile(counting=COUNTING_PLUGIN)
    light = audit_at(pytester, aws.url, "-p", "counting", subprocess=True)
    assert _seen(pytester, "setup") == _seen(pytester, "call") == []
    full = audit_at(pytester, aws.url, "-p", "counting", "--full-protocol", subprocess=True)
    # every case of every rule, each through pytest's own setup (the count is the findings', whatever the rules)
    assert len(_seen(pytester, "setup")) == len(full.findings) == len(light.findings) > 30
    judged = {f["nodeid"] for f in full.findings if f["outcome"] in ("pass", "fail")}
    assert judged
    assert judged <= set(_seen(pytester, "call"))
    assert light.findings == full.findings


def test_maxfail_stops_the_light_protocol(pytester: pytest.Pytester, aws: Account) -> None:
    _seed(aws)
    result = audit_at(pytester, aws.url, "-x", subprocess=True)
    assert result.ret == 1
    # the first case that does not pass stops it (here AMS-EXEC-001's "not assessed": no execution role)
    assert sum(1 for f in result.findings if f["outcome"] in ("fail", "error")) == 1
    assert "stopping after 1 failures" in result.stdout


TERMINAL_STATS_PLUGIN = """
import json
from pathlib import Path

def pytest_unconfigure(config):
    stats = config.pluginmanager.get_plugin("terminalreporter").stats
    counts = {key: len(value) for key, value in stats.items()}
    Path("terminal-stats.json").write_text(json.dumps(counts))
"""


@pytest.mark.parametrize("full", [False, True], ids=["light", "full-protocol"])
def test_the_terminal_keeps_no_passing_setup_or_teardown_report(
    pytester: pytest.Pytester, aws: Account, full: bool
) -> None:
    """pytest's terminal keeps every report under a category; a passing setup's or teardown's
    (category "") is shown and counted nowhere, and two of them per case add up at a million cases:
    dropped once each case is done, while the counts pytest prints stay what they were."""
    _seed(aws)
    pytester.makepyfile(terminal_stats=TERMINAL_STATS_PLUGIN)
    pytester.syspathinsert()
    result = audit_at(pytester, aws.url, "-p", "terminal_stats", *(["--full-protocol"] if full else []))
    counts = json.loads((pytester.path / "terminal-stats.json").read_text())
    assert counts.get("", 0) == 0
    outcomes = [f["outcome"] for f in result.findings]
    assert counts["passed"] == outcomes.count("pass") > 0
    assert counts["skipped"] == outcomes.count("not-applicable")  # a rule with nothing to judge skips
    assert f"{counts['failed']} failed, {counts['passed']} passed" in result.counts_line


#: rules whose failures take each shape pytest can give a failed assertion: in the rule's function
#: (one line and several), in a helper it calls, and raised while handling another exception
SHAPED_RULES = """
import pytest
from ams_iam_audit import Controls, Evidence, User, rule

META = dict(severity="low", area="users", scope="user", rationale="r", remediation="r", controls=Controls())

def _owned(user):
    assert user.name != "crash", "a helper's assertion"

@rule(id="AMS-TEAM-020", title="Failures of every shape", **META)
def test_shapes(user: User, evidence: Evidence) -> None:
    evidence.add(name=user.name)
    _owned(user)
    if user.name == "skipped":
        try:
            {}["owner"]
        except KeyError:
            assert False, "raised while handling a KeyError"
    if user.name == "failed":
        pytest.fail(f"{user.name} failed through pytest.fail")
    if user.name == "untraced":
        pytest.fail(f"{user.name} failed without a traceback", pytrace=False)
    assert user.name != "owned", "one line\\nand a second\\x1b[31m"
    assert "AI_" not in user.name
"""

#: a -p plugin: each report the run makes beside the one pytest's own TestReport.from_item_and_call
#: makes for the same case and phase, as report logs and xdist serialise them
SAME_REPORTS_PLUGIN = """
import json
from pathlib import Path

import pytest
from _pytest.reports import TestReport

SEEN = []

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    expected = TestReport.from_item_and_call(item, call)
    SEEN.append({
        "id": f"{item.nodeid} {call.when}",
        "failed": report.failed,
        "same": report._to_json() == expected._to_json(),
        "same_type": type(report.longrepr) is type(expected.longrepr),
        "same_text": str(report.longrepr) == str(expected.longrepr),
        "ours": report._to_json(),
        "pytest": expected._to_json(),
    })
    return report

def pytest_unconfigure(config):
    Path("reports.json").write_text(json.dumps(SEEN, default=str))
"""


def _reports_beside_pytests(
    pytester: pytest.Pytester, aws: Account, rules: str, **files: str
) -> tuple[AuditResult, list[dict[str, Any]]]:
    """Audit with the rule module ``rules`` (among ``files``) and ``SAME_REPORTS_PLUGIN``: each report
    of the run beside pytest's own, every one asserted the same."""
    pytester.makepyfile(same_reports=SAME_REPORTS_PLUGIN, **files)
    pytester.syspathinsert()
    result = audit_at(pytester, aws.url, "-p", "same_reports", f"{rules}.py")
    assert result.document is not None, result.stdout
    seen: list[dict[str, Any]] = json.loads((pytester.path / "reports.json").read_text())
    different = [r for r in seen if not (r["same"] and r["same_type"] and r["same_text"])]
    assert not different, different[:2]
    return result, seen


def test_light_reports_are_the_reports_pytest_makes(
    pytester: pytest.Pytester, aws: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The light protocol makes a passing phase's report and a rule's own failed assertion itself
    (one keywords dict a case, no walk of the traceback): field for field, and in the text the
    terminal and JUnit print, they are the reports pytest makes. Failures of other shapes are
    pytest's own."""
    from ams_iam_audit.pytest_plugin import protocol

    made: list[str] = []
    line_failure = protocol._line_failure

    def counted(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        longrepr = line_failure(item, call)
        if longrepr is not None:
            made.append(item.nodeid)
        return longrepr

    monkeypatch.setattr(protocol, "_line_failure", counted)
    _seed(aws)
    for name in ("failed", "untraced"):
        aws.iam.create_user(UserName=name)
    _result, seen = _reports_beside_pytests(pytester, aws, "test_shapes", test_shapes=SHAPED_RULES)
    failed = {r["id"] for r in seen if r["failed"]}
    shapes = ("crash", "skipped", "owned", "failed", "untraced")
    assert {f"test_shapes.py::test_shapes[user/{name}] call" for name in shapes} <= failed
    # made here: the rule's own one-line and several-line assertions and pytest.fail, built-in rules' failures
    assert "test_shapes.py::test_shapes[user/owned]" in made
    assert "test_shapes.py::test_shapes[user/failed]" in made
    assert "test_shapes.py::test_shapes[user/AI_MODELSHARE_2024_01_01_00_00_00]" in made
    assert any(nodeid.startswith("rules/") for nodeid in made)
    # left to pytest: the helper's assertion, the one raised while handling another exception, and
    # pytest.fail without a traceback
    assert not {f"test_shapes.py::test_shapes[user/{name}]" for name in ("crash", "skipped", "untraced")} & set(made)
    assert len(seen) > 3 * len(made) > 0


#: a -p plugin: each case's location beside the one pytest computes for it
LOCATIONS_PLUGIN = """
import json
from pathlib import Path

import pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    Path("locations.json").write_text(json.dumps([
        [item.nodeid, list(item.location), list(pytest.Function.location.func(item))] for item in session.items
    ]))
"""


def test_rule_cases_have_the_locations_pytest_gives_them(pytester: pytest.Pytester, aws: Account) -> None:
    """Each rule's file and line are found once and shared by its cases; every case's location is
    still the one pytest computes (the terminal, JUnit and report logs print it)."""
    _seed(aws)
    pytester.makepyfile(test_team=TEAM_RULES, locations=LOCATIONS_PLUGIN)
    pytester.syspathinsert()
    result = audit_at(pytester, aws.url, "-p", "locations", "test_team.py")
    assert result.document is not None, result.stdout
    locations = json.loads((pytester.path / "locations.json").read_text())
    assert len({nodeid.split("[")[0] for nodeid, _, _ in locations}) > 10
    assert [nodeid for nodeid, ours, theirs in locations if ours != theirs] == []
    assert any(ours[0] == "test_team.py" and ours[2].startswith("test_owner[") for _, ours, _ in locations)


#: a conftest implementing pytest_runtest_makereport plainly (not as a wrapper): it sees each report
OBSERVER_CONFTEST = """
import json
from pathlib import Path

SEEN = []

def pytest_runtest_makereport(item, call):
    SEEN.append(f"{item.nodeid} {call.when}")

def pytest_unconfigure(config):
    Path("seen.json").write_text(json.dumps(SEEN))
"""


def test_a_plain_makereport_of_a_project_still_sees_every_phase(pytester: pytest.Pytester, aws: Account) -> None:
    """The hook stops at the first report made: the light protocol makes none itself where a project's
    conftest implements it too, so that implementation is called for every phase of every case it
    applies to (a conftest's hooks apply to its directory: the built-in rules are not in it)."""
    _seed(aws)
    pytester.makepyfile(test_team=TEAM_RULES)
    pytester.makeconftest(OBSERVER_CONFTEST)
    result = audit_at(pytester, aws.url, "test_team.py")
    assert result.document is not None, result.stdout
    seen = json.loads((pytester.path / "seen.json").read_text())
    team = [s for s in seen if s.startswith("test_team.py::")]
    assert len(team) == 12, team  # four users, three phases each


#: a rule wrapped by a decorator of another module, whose wrapper fails; and a rule that takes
#: pytest's ``request``
WRAPPED_HELPERS = """
import functools

def checked(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        assert kwargs["user"].name != "crash", "the wrapper's own check"
        return function(*args, **kwargs)
    return wrapper
"""

WRAPPED_RULES = """
from ams_iam_audit import Controls, Evidence, User, rule
from wrapped_helpers import checked

META = dict(severity="low", area="users", scope="user", rationale="r", remediation="r", controls=Controls())

@checked
@rule(id="AMS-TEAM-030", title="Wrapped", **META)
def test_wrapped(user: User, evidence: Evidence) -> None:
    assert user.name != "owned", "the rule's own check"

@rule(id="AMS-TEAM-031", title="Asks for the request", **META)
def test_request(user: User, request) -> None:
    assert request.node.name.startswith("test_request[")
"""


def test_wrapped_rules_and_rules_taking_request_report_as_pytest_does(pytester: pytest.Pytester, aws: Account) -> None:
    _seed(aws)
    result, _seen = _reports_beside_pytests(
        pytester, aws, "test_wrapped", test_wrapped=WRAPPED_RULES, wrapped_helpers=WRAPPED_HELPERS
    )
    users = ("AI_MODELSHARE_2024_01_01_00_00_00", "owned", "crash", "skipped")
    assert result.outcomes("AMS-TEAM-031") == {f"user/{name}": "pass" for name in users}
    wrapped = result.outcomes("AMS-TEAM-030")
    assert wrapped["user/crash"] == wrapped["user/owned"] == "fail"
