"""A light runtest protocol for rule cases: pytest's reports, without pytest's per-case machinery.

pytest runs every case through setup, call and teardown, each a hook call with a dozen wrappers
(capture, fixtures' setup state, skip and xfail marks, threading and unraisable-exception checks).
That costs about 1 ms per case on the benchmark machine, more than most rules take to judge a resource,
and an account at IAM's maximum quotas has about 93,000 cases (``bench/README.md``).

A rule case needs none of it when it uses only the plugin's own fixtures (its subject, ``evidence``,
``audit``, ``inventory``: nothing to tear down, nothing that can fail except the subject itself) and
carries no marker that something acts on at run time. Such a case is run here. Its arguments come
from the same functions as the fixtures (``fixtures.subject_value``, ``fixtures.new_evidence``). Its
setup, call and teardown reports go through the same hooks as pytest's:
``pytest_runtest_logstart``, ``pytest_runtest_makereport``, ``pytest_runtest_logreport`` and
``pytest_runtest_logfinish``. So the terminal, ``--junitxml``, xdist, ``-x``, ``--lf``, waivers,
baselines and findings see the same reports. ``pytest_runtest_protocol`` wrappers, such as the
warnings capture, still wrap the case.

A light case's reports are made as pytest's ``TestReport.from_item_and_call`` makes them, but for two
costs paid once instead of each time (``LightProtocol.pytest_runtest_makereport``): the case's keyword
names, one dict for its three reports; and a rule's failure at ``--tb=line`` (the plugin's default),
whose text is its assertion's lines and crash location, made from the exception without pytest's walk
of the traceback (0.15 ms a failure; 33,000 failures at the maximum quotas). Every other outcome,
every failure of another shape, and every report of a case where a conftest or plugin implements
``pytest_runtest_makereport`` itself (not as a wrapper: the hook stops at the first report made) is
made by pytest. ``tests/test_protocol.py`` compares each report of an audit with the one pytest makes
for the same case.

Every other case goes through pytest's protocol unchanged: one with a fixture or autouse fixture of
a project's own, or one that overrides ours; one with a marker other than ``parametrize`` and a rule's
severity and area (``skip``, ``xfail``, ``timeout``, …); and every case under ``--full-protocol``,
``--pdb``, ``--trace`` and the ``--setup-*`` options. ``--full-protocol`` is for plugins that wrap
each test's setup or call hooks, which a light case does not call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import ExceptionChainRepr, ExceptionInfo, ReprFileLocation

from ..rule import AREAS, Severity, get_rule
from ..scopes import Examined
from . import fixtures
from .fixtures import case_context, item_case, new_evidence, rule_arguments, scope_param, subject_value
from .kept_reports import line_failure_repr

__all__ = ["LightProtocol"]

#: the modules of pytest's own plain ``pytest_runtest_makereport``: the one that makes every report,
#: and unittest's, which acts only on ``unittest.TestCase`` items
_PYTEST_REPORTERS = frozenset({"_pytest.runner", "_pytest.unittest"})

#: pytest options under which every case needs pytest's own protocol
_INTERACTIVE_OPTIONS = ("usepdb", "trace", "setupshow", "setuponly", "setupplan")


class LightProtocol:
    """Runs eligible rule cases (see the module docstring); registered by the plugin in audit mode."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.reraise: tuple[type[BaseException], ...] = (pytest.exit.Exception, KeyboardInterrupt)
        #: markers a rule case may carry and still run here: they select cases, nothing acts on them
        #: at run time (the areas as this run registered them)
        self.selection_markers = frozenset({"parametrize", *(s.value for s in Severity), *AREAS})
        self.own_fixtures = fixtures.own_fixture_names()
        #: the case being run here, and its keyword names (``pytest_runtest_makereport``)
        self._case: pytest.Item | None = None
        self._keywords: dict[str, Any] | None = None
        #: by directory: whether pytest's and this protocol's are the only reports made (_reports_made_here)
        self._alone: dict[Path, bool] = {}

    @staticmethod
    def wanted(config: pytest.Config, full_protocol: bool) -> bool:
        return not full_protocol and not any(config.getoption(o, False) for o in _INTERACTIVE_OPTIONS)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        rule = get_rule(getattr(item, "function", None))
        if rule is None or not self.eligible(item):
            return None
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        self._case, self._keywords = (item if self._reports_made_here(item) else None), None
        try:
            setup = pytest.CallInfo.from_call(lambda: self._arguments(item), "setup", self.reraise)
            if _report(ihook, item, setup).passed:
                arguments = setup.result
                function = item.obj  # type: ignore[attr-defined]
                if isinstance(item_case(item, rule.scope), Examined):
                    function = _nothing_to_judge
                _report(ihook, item, pytest.CallInfo.from_call(lambda: function(**arguments), "call", self.reraise))
            _report(ihook, item, pytest.CallInfo.from_call(lambda: None, "teardown", self.reraise))
        finally:
            self._case, self._keywords = None, None
        # as pytest's own protocol does once a case is torn down: its request and arguments go away
        # (a TopRequest and two dicts a case, kept to the end otherwise: bench/README.md, round 4)
        item._request = False  # type: ignore[attr-defined]
        item.funcargs = None  # type: ignore[attr-defined]
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> pytest.TestReport | None:
        """The report of a light case's passing phase or ``--tb=line`` rule failure, as pytest's own
        ``TestReport.from_item_and_call`` makes it (the module docstring says what is saved); ``None``
        leaves every other report to pytest. Hook wrappers (the plugin's, pytest's skipping) wrap
        either."""
        if item is not self._case:
            return None
        if call.excinfo is None:
            outcome: Any = "passed"
            longrepr: ExceptionChainRepr | None = None
        else:
            longrepr = _line_failure(item, call)
            if longrepr is None:
                return None
            outcome = "failed"
        if self._keywords is None:
            self._keywords = dict.fromkeys(item.keywords, 1)
        sections = [(f"Captured {key} {when}", content) for when, key, content in item._report_sections]
        return pytest.TestReport(
            item.id if hasattr(type(item), "id") else item.nodeid,  # pytest 9's structured id, as pytest passes it
            item.location,
            self._keywords,
            outcome,
            longrepr,
            call.when,  # type: ignore[arg-type]
            sections,
            call.duration,
            call.start,
            call.stop,
            user_properties=item.user_properties,
        )

    def _reports_made_here(self, item: pytest.Item) -> bool:
        """Whether this protocol may make ``item``'s reports itself: it is a plain ``pytest.Function``
        (a subclass may represent its failures its own way), and no plugin or conftest implements
        ``pytest_runtest_makereport`` other than pytest's own and this one, wrappers aside. The hook
        stops at the first report returned, so a team's plain implementation (one that observes each
        report, or makes its own) would otherwise never be called. Known once per directory (the
        conftests that apply)."""
        if type(item) is not pytest.Function:
            return False
        alone = self._alone.get(item.path)
        if alone is None:
            alone = all(
                impl.hookwrapper or impl.wrapper or impl.plugin is self or impl.function.__module__ in _PYTEST_REPORTERS
                for impl in item.ihook.pytest_runtest_makereport.get_hookimpls()
            )
            self._alone[item.path] = alone
        return alone

    def eligible(self, item: pytest.Item) -> bool:
        """Whether a rule case may skip pytest's protocol: every fixture it uses, directly or not, is
        the plugin's own (not overridden), and every marker on it only selects."""
        info = getattr(item, "_fixtureinfo", None)
        if info is None or not hasattr(item, "callspec"):
            return False
        if "request" in info.argnames:  # a rule asking for pytest's request gets pytest's protocol
            return False
        for name in item.fixturenames:  # type: ignore[attr-defined]
            if name == "request":
                continue
            if name not in self.own_fixtures:
                return False
            definitions = info.name2fixturedefs.get(name)
            if not definitions or getattr(definitions[-1].func, "__module__", None) != fixtures.__name__:
                return False
        return all(mark.name in self.selection_markers for mark in item.iter_markers())

    def _arguments(self, item: pytest.Item) -> dict[str, Any]:
        """The rule function's arguments, made in its argument order as pytest's fixtures would be."""
        arguments = rule_arguments(
            item._fixtureinfo.argnames,  # type: ignore[attr-defined]
            case_context(item, self.config),
            lambda: new_evidence(item),
            lambda scope: subject_value(scope_param(item, scope)),
        )
        assert arguments is not None, "eligible() admits only the plugin's fixtures"
        return arguments


def _nothing_to_judge(**_arguments: Any) -> None:
    """An ``examined`` case's call: it stands for subjects that hold nothing the rule judges."""


def _line_failure(item: pytest.Item, call: pytest.CallInfo[Any]) -> ExceptionChainRepr | None:
    """A rule's failure as pytest represents it at ``--tb=line``, or ``None`` for any other failure.
    pytest filters the traceback down to the test function's frame and what it called, less the
    frames that hide themselves (``__tracebackhide__``, as ``pytest.fail`` does), gives each frame
    left an entry, the last one holding the exception's lines, and names the last frame not hidden
    as the crash. When the rule's function failed an assertion or called ``pytest.fail`` itself, that
    is one entry and that frame: made here from the exception alone. Anything else (a helper's
    assertion, a chained exception, another exception type, ``pytest.fail(pytrace=False)``, another
    ``--tb``, ``--full-trace``) is left to pytest."""
    excinfo = call.excinfo
    config = item.config
    if call.when != "call" or not isinstance(excinfo, ExceptionInfo):
        return None
    error = excinfo.value
    if type(error) is not AssertionError and not (type(error) is pytest.fail.Exception and error.pytrace):
        return None
    if config.getoption("tbstyle", "auto") != "line" or config.getoption("fulltrace", False):
        return None
    if error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        return None
    function = getattr(item, "obj", None)
    if hasattr(function, "__wrapped__"):
        return None  # pytest cuts the traceback at the function the decorator wraps, not at this one
    code = getattr(function, "__code__", None)
    rule_entry: Any = None
    for entry in excinfo.traceback:  # pytest's own entries, and its own judgement of a hidden frame
        if rule_entry is None:
            if entry.frame.code.raw is code:
                if entry.ishidden(excinfo):
                    return None
                rule_entry = entry
        elif not entry.ishidden(excinfo):
            return None  # a frame of the rule's own helpers: pytest shows it
    if rule_entry is None:
        return None
    message = excinfo.exconly(tryshort=True)
    # the exception's lines under pytest's failure marker, the first marked, the rest indented
    lines = [("E   " if n == 0 else "    ") + line for n, line in enumerate(message.split("\n"))]
    crash = ReprFileLocation(rule_entry.frame.code.raw.co_filename, rule_entry.lineno + 1, message)
    return line_failure_repr(lines, crash)


def _report(ihook: Any, item: pytest.Item, call: pytest.CallInfo[Any]) -> pytest.TestReport:
    report: pytest.TestReport = ihook.pytest_runtest_makereport(item=item, call=call)
    ihook.pytest_runtest_logreport(report=report)
    return report
