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

Every other case goes through pytest's protocol unchanged: one with a fixture or autouse fixture of
a project's own, or one that overrides ours; one with a marker other than ``parametrize`` and a rule's
severity and area (``skip``, ``xfail``, ``timeout``, …); and every case under ``--full-protocol``,
``--pdb``, ``--trace`` and the ``--setup-*`` options. ``--full-protocol`` is for plugins that wrap
each test's setup or call hooks, which a light case does not call.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..rule import AREAS, Severity, get_rule
from ..scopes import Examined
from . import fixtures
from .fixtures import case_context, item_case, new_evidence, rule_arguments, scope_param, subject_value

__all__ = ["LightProtocol"]

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
        setup = pytest.CallInfo.from_call(lambda: self._arguments(item), "setup", self.reraise)
        if _report(ihook, item, setup).passed:
            arguments = setup.result
            function = item.obj  # type: ignore[attr-defined]
            if isinstance(item_case(item, rule.scope), Examined):
                function = _nothing_to_judge
            _report(ihook, item, pytest.CallInfo.from_call(lambda: function(**arguments), "call", self.reraise))
        _report(ihook, item, pytest.CallInfo.from_call(lambda: None, "teardown", self.reraise))
        # as pytest's own protocol does once a case is torn down: its request and arguments go away
        # (a TopRequest and two dicts a case, kept to the end otherwise: bench/README.md, round 4)
        item._request = False  # type: ignore[attr-defined]
        item.funcargs = None  # type: ignore[attr-defined]
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def eligible(self, item: pytest.Item) -> bool:
        """Whether a rule case may skip pytest's protocol: every fixture it uses, directly or not, is
        the plugin's own (not overridden), and every marker on it only selects."""
        info = getattr(item, "_fixtureinfo", None)
        if info is None or not hasattr(item, "callspec"):
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


def _report(ihook: Any, item: pytest.Item, call: pytest.CallInfo[Any]) -> pytest.TestReport:
    report: pytest.TestReport = ihook.pytest_runtest_makereport(item=item, call=call)
    ihook.pytest_runtest_logreport(report=report)
    return report
