"""The pytest plugin (entry point ``pytest11: ams_iam_audit``).

Dormant unless ``--aws-account`` or ``--snapshot`` is given. Then, in order:

1. options are validated (``options``); a bad value is a usage error and nothing is read;
2. the inventory is built once (``run.open_run``): the account guard runs first, then
   collection (or the snapshot is loaded). Several accounts (``accounts_run.open_accounts``): each is
   reached, guarded and read once, and every case's id starts with its account. Under xdist the
   controller hands workers snapshot files (one account alone runs in one process: ``-n`` is set aside);
3. the built-in rules (``rules/``, shipped in the package) join whatever paths were given;
4. each rule is parametrized over its scope (``scopes``), and each outcome becomes a ``Finding``
   carried on the test report, so it travels back from xdist workers like any report;
5. at session end the controller writes ``findings.json`` (``report``; several accounts: each
   account's, merged into the organization's) and prints a summary.

This module wires the others together and holds no IAM knowledge.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import functools
import gc
import importlib.util
import re
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import pytest

from .. import report
from ..findings import Finding, Outcome, failure_message
from ..findings.baseline import BaselineError
from ..findings.waivers import WaiverUsage, waive, waiver_usage
from ..jsonio import OutputError, jsonable, scrub, terminal_safe
from ..remediate.plan import FIXABLE_RULES
from ..report.terminal import TerminalLine, closing_line, summary_lines, write_summary
from ..rule import AREAS, Rule, Severity, get_rule
from ..scopes import (
    NOT_ASSESSED,
    SCOPES,
    AuditContext,
    Case,
    Examined,
    NotApplicable,
    NotAssessed,
    Subject,
    Unreadable,
    subjects_for,
)
from . import fixtures
from .accounts_run import (
    AccountsRun,
    account_cases,
    account_lines,
    accounts_from_workerinput,
    open_accounts,
    write_accounts_results,
)
from .fixing import FixOutcome, fix_lines, run_fix_phase
from .fixtures import ACCOUNTS_KEY, CONTEXT_KEY, EVIDENCE_KEY, item_account, item_case
from .kept_reports import PASS_COUNTED, compact_failure
from .options import AuditOptions, add_options
from .protocol import LightProtocol
from .run import AuditRun, RunError, open_run, run_from_workerinput

__all__ = ["AuditPlugin"]

_WORKER_KEY = "ams_iam_audit"
_PLUGIN_NAME = "ams-iam-audit-session"
_KEYWORDS_KEY = pytest.StashKey[Mapping[str, Any]]()
_REGISTRY_KEY = pytest.StashKey[tuple[dict[str, str], dict[str, Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The plugin's own hooks (``ams_iam_audit.pytest_plugin.hooks``), for teams' plugins and conftest files."""
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """In audit mode, leave out pytest's per-case log capture: rules do not log, and at tens of
    thousands of cases it costs about a fifth of the run (bench/README.md). Any ``--log-*`` option
    keeps it."""
    audit = any(a.startswith(("--aws-account", "--snapshot")) or a == "--aws-org" for a in args)
    if audit and not any(a.startswith("--log") for a in args) and early_config.pluginmanager.has_plugin("logging"):
        early_config.pluginmanager.unregister(name="logging")


#: Options that mean nothing without an account or a snapshot to audit (dest -> flag): given alone,
#: the run would collect the project's own tests, or nothing, and exit without a word about them.
_AUDIT_ONLY = {
    "fix": "--fix",
    "fix_dry_run": "--fix-dry-run",
    "fix_unowned": "--fix-unowned",
    "fix_journal": "--fix-journal",
    "fix_min_idle_days": "--fix-min-idle-days",
    "fix_retire_in_use": "--fix-retire-in-use",
    "fix_retire_grace_days": "--fix-retire-grace-days",
    "fix_execution_role_trust": "--fix-execution-role-trust",
    "save_snapshot": "--save-snapshot",
    "baseline": "--baseline",
    "aws_execution_role_arn": "--aws-execution-role-arn",
    "aws_org_role": "--aws-org-role",
}


def _register_extensions(config: pytest.Config) -> None:
    """Let teams register rule areas and scopes (``pytest_ams_iam_audit_register``), give their
    scopes fixtures, and remember what was there before, which ``pytest_unconfigure`` restores: a
    run's registrations never outlive it."""
    config.stash[_REGISTRY_KEY] = (dict(AREAS), dict(SCOPES))
    try:
        config.hook.pytest_ams_iam_audit_register(config=config)
    except BaseException:
        pytest_unconfigure(config)  # what a failing hook registered goes with it
        raise
    added = [name for name in SCOPES if name not in config.stash[_REGISTRY_KEY][1]]
    if added:
        config.pluginmanager.register(fixtures.scope_fixtures(added), _PLUGIN_NAME + "-scopes")


def pytest_unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_REGISTRY_KEY, None)
    if saved is not None:
        areas, scopes = saved
        AREAS.clear()
        AREAS.update(areas)
        SCOPES.clear()
        SCOPES.update(scopes)


def pytest_configure(config: pytest.Config) -> None:
    if not AuditOptions.requested(config):
        given = [flag for dest, flag in _AUDIT_ONLY.items() if config.getoption(dest, None)]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise pytest.UsageError(
                f"{', '.join(given)} {verb} an account to audit: add --aws-account ID (or 'demo'), or --snapshot FILE"
            )
        return
    options = AuditOptions.from_config(config)
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "line"  # a finding is one line (its message), not a traceback
    try:
        _register_extensions(config)
    except ValueError as exc:  # register_area/register_scope refusing a name: the message says why
        raise pytest.UsageError(f"pytest_ams_iam_audit_register: {terminal_safe(str(exc))}") from None
    except Exception as exc:  # a team's hook failing otherwise: named, never a traceback
        message = f"pytest_ams_iam_audit_register: {type(exc).__name__}: {exc}"
        raise pytest.UsageError(terminal_safe(message)) from None
    for severity in Severity:
        config.addinivalue_line("markers", f"{severity.value}: ams-iam-audit rules of {severity.value} severity")
    for area, about in AREAS.items():
        config.addinivalue_line("markers", f"{area}: ams-iam-audit rules on {about}")
    worker_input = getattr(config, "workerinput", None)
    if options.fix is not None and _xdist_active(config):
        raise pytest.UsageError("--fix and --fix-dry-run run in one process, in one order: drop -n/--dist")
    if options.fix is not None and config.option.maxfail:
        raise pytest.UsageError("--fix and --fix-dry-run plan from the whole audit: drop -x/--maxfail")
    one_process = None
    if not options.multi and worker_input is None and _xdist_active(config):
        one_process = _XDIST_OFF
        _xdist_off(config)
    run: AuditRun | AccountsRun
    try:
        if worker_input is not None and _WORKER_KEY in worker_input:
            data = worker_input[_WORKER_KEY]
            run = accounts_from_workerinput(data) if options.multi else run_from_workerinput(data)
        else:
            started = time.perf_counter()
            if options.multi:
                if options.waivers:  # a waiver's typo found before every account is read, not after
                    check_waivers(options, _declared_rule_ids(config, options.builtin_rules))
                run = open_accounts(options, xdist=_xdist_active(config))
            else:
                run = open_run(options, xdist=_xdist_active(config))
            run.timings["collect"] = time.perf_counter() - started
    except RunError as exc:
        raise pytest.UsageError(terminal_safe(str(exc))) from None
    if options.baseline is not None and isinstance(run, AuditRun):
        try:
            options.baseline.check_account(run.inventory.account_id)
        except BaselineError as exc:
            run.close()
            raise pytest.UsageError(terminal_safe(str(exc))) from None
    plugin = AuditPlugin(config, options, run)
    plugin.xdist_note = one_process
    plugin.settle()
    # the objects go back to the collector last of all: this configure runs before pytest's own, so
    # this cleanup runs after theirs (see AuditPlugin.thaw)
    config.add_cleanup(plugin.thaw)
    config.stash[CONTEXT_KEY] = plugin.context
    config.pluginmanager.register(plugin, _PLUGIN_NAME)
    config.pluginmanager.register(fixtures, _PLUGIN_NAME + "-fixtures")
    if plugin.contexts is not None:
        config.stash[ACCOUNTS_KEY] = plugin.contexts
        config.pluginmanager.register(fixtures.AccountFixtures(), _PLUGIN_NAME + "-account-fixtures")
    if worker_input is None:
        config.pluginmanager.register(report.BuiltinReports(), _PLUGIN_NAME + "-reports")
    if LightProtocol.wanted(config, options.full_protocol):
        config.pluginmanager.register(LightProtocol(config), _PLUGIN_NAME + "-protocol")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(plugin), _PLUGIN_NAME + "-xdist")
    if options.builtin_rules:
        _add_builtin_rules(config)
    if options.waivers and worker_input is None and _xdist_active(config):
        # under xdist this process collects nothing: the rules are read from the rule files' source
        check_waivers(options, _declared_rule_ids(config, options.builtin_rules))


def check_waivers(options: AuditOptions, rules: set[str]) -> None:
    """Every waiver names a rule of the run (``rules``; none known yet: nothing to check)."""
    if not rules:
        return
    for waiver in options.waivers:
        if waiver.rule_id not in rules:
            raise pytest.UsageError(
                terminal_safe(
                    f"--waivers: {waiver.where}: rule {waiver.rule_id} is not a rule of this run "
                    f"(the rules are {', '.join(sorted(rules))})"
                )
            )


@functools.cache
def _freeze_at_exit() -> None:
    """At the interpreter's exit, move every object out of the garbage collector's way once more
    (``gc.freeze``): the run's millions of objects would otherwise be walked by each collection the
    exit's own frees set off, which took 15-48 s after the last report (bench/README.md, round 2).
    Registered once a process; an in-process host (``pytester``) still gets its objects back at
    unconfigure, since only a real exit runs it."""
    atexit.register(gc.freeze)


#: Said at the end of a run of one account given -n/--dist (bench/README.md, "Round 2, the engine").
_XDIST_OFF = (
    "note: -n/--dist ignored: one account is audited in one process (under xdist each worker "
    "re-reads the inventory and rebuilds its analysis: -n 2 took 1.5 to 1.7 x the time of -n 0); "
    "-n spreads several accounts over workers"
)


def _xdist_off(config: pytest.Config) -> None:
    """Run in this one process: pytest-xdist starts its workers in its own ``pytest_configure``,
    which runs after this plugin's (``trylast``) and starts none without a distribution mode."""
    config.option.numprocesses = 0
    config.option.dist = "no"
    config.option.tx = []


def _xdist_active(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) or getattr(config.option, "dist", "no") != "no"


def builtin_rules_dir() -> Path:
    """Where the built-in rules are installed (``rules/`` of a source checkout when editable)."""
    spec = importlib.util.find_spec("ams_iam_audit.rules")
    if spec is None or spec.origin is None:
        raise RuntimeError("ams_iam_audit.rules is missing: the package is installed incompletely")
    return Path(spec.origin).parent


_DECLARED_ID = re.compile(r"""\bid\s*=\s*["'](AMS-[A-Z0-9]+-\d{3})["']""")


def _declared_rule_ids(config: pytest.Config, builtin: bool) -> set[str]:
    """The rule ids the rule files on the command line (and the built-in rules) declare, read from
    their source: what an xdist controller, which collects nothing, knows of the rules."""
    roots = [Path(a.split("::")[0]) for a in config.args] + ([builtin_rules_dir()] if builtin else [])
    files: set[Path] = set()
    for root in roots:
        if root.is_dir():
            files.update(root.rglob("*.py"))
        elif root.suffix == ".py":
            files.add(root)
    ids: set[str] = set()
    for path in files:
        try:
            ids.update(_DECLARED_ID.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    return ids


def _add_builtin_rules(config: pytest.Config) -> None:
    """The built-in rules run alongside any explicitly given paths (a team's own rules); without
    explicit paths they replace the default (the current directory or ``testpaths``)."""
    rules_dir = str(builtin_rules_dir())
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    args = list(config.args) if explicit else []
    if not any(Path(a.split("::")[0]).resolve() == Path(rules_dir).resolve() for a in args):
        args.append(rules_dir)
    config.args[:] = args


class XdistHooks:
    """Registered only when pytest-xdist is installed: hand the controller's run to each worker, and
    learn how many cases they collected."""

    def __init__(self, plugin: AuditPlugin) -> None:
        self.plugin = plugin

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_KEY] = self.plugin.run.to_workerinput()

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Several accounts: every case of one account on one worker (``scheduling``)."""
        if self.plugin.contexts is None:
            return None
        from .scheduling import AccountScheduling

        return AccountScheduling(config, log)

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """What each worker collected (all collect the same): the controller's count of cases."""
        self.plugin.collected = len(ids)


class AuditPlugin:
    """The per-run half of the plugin: fixtures, parametrization, findings, summary."""

    def __init__(self, config: pytest.Config, options: AuditOptions, run: AuditRun | AccountsRun) -> None:
        self.config = config
        self.options = options
        self.run = run
        #: a run of several accounts: each account's context, by account id (``None``: one account)
        self.contexts: dict[str, AuditContext] | None = None
        if isinstance(run, AccountsRun):
            self.contexts = {a: AuditContext(inventory=r.inventory) for a, r in run.runs.items()}
            self.context = next(iter(self.contexts.values()))
        else:
            self.context = AuditContext(inventory=run.inventory)
        #: findings' accounts, by node id (several accounts)
        self.account_of: dict[str, str] = {}
        #: why -n/--dist was set aside (one account): said in the terminal summary
        self.xdist_note: str | None = None
        self.findings: list[Finding] = []
        self.rules: dict[str, dict[str, Any]] = {}
        self.report_paths: list[Path] = []
        self.started = time.time()
        self.fix: FixOutcome | None = None
        #: every case this process was told about (a report of any phase), against what was collected:
        #: a run cut short (-x, --maxfail, an interrupt) judged fewer and is incomplete
        self.reported: set[str] = set()
        self.collected: int | None = None
        self.output_error: str | None = None
        self.incomplete_reason: str | None = None
        self._usage: list[WaiverUsage] | None = None
        self._gc_thresholds = gc.get_threshold()
        self._settled = False
        #: each rule case's passing or failing call report, by node id, until the case is finished
        #: (``kept_reports``: what the terminal keeps of it)
        self._calls: dict[str, pytest.TestReport] = {}
        self._thin: bool | None = None
        self._rules_dir = builtin_rules_dir().resolve()

    # --- collection -------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(self, module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
        """The built-in rule modules get node ids of their own, ``rules/test_<area>.py::…``, wherever
        the package is installed and whatever pytest chose as rootdir: pytest derives the rootdir
        from every path-like argument, option values included (``--save-snapshot /var/tmp/s.json``
        would otherwise turn ``rules/test_users.py`` into ``test_users.py``), and node ids are in
        findings.json, JUnit, ``--lf`` and ``--deselect``."""
        if not self.options.builtin_rules or module_path.resolve().parent != self._rules_dir:
            return None
        module: pytest.Module = pytest.Module.from_parent(parent, path=module_path, nodeid=f"rules/{module_path.name}")
        return module

    # --- parametrization --------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        rule = get_rule(metafunc.function)
        if rule is None:
            return
        if rule.scope not in metafunc.fixturenames:
            raise pytest.UsageError(
                f"rule {rule.id} ({metafunc.definition.nodeid}) has scope {rule.scope!r} "
                f"but takes no {rule.scope!r} argument"
            )
        if self.contexts is not None:
            self._parametrize_accounts(metafunc, rule)
            return
        items = subjects_for(rule.scope, self.context, rule.select, rule.select_description, rule.judges, rule.unjudged)
        # the ids are in every output (terminal, JUnit, findings.json): masked like everything else
        metafunc.parametrize(rule.scope, items, ids=[scrub(i.id) for i in items], indirect=True)

    def _parametrize_accounts(self, metafunc: pytest.Metafunc, rule: Rule) -> None:
        """Several accounts: each account's cases (``accounts_run.account_cases``)."""
        assert self.contexts is not None
        assert isinstance(self.run, AccountsRun)
        params, ids = account_cases(self.run, self.contexts, rule)
        metafunc.parametrize(rule.scope, params, ids=ids, indirect=True)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = []
        if isinstance(self.run, AccountsRun):
            lines.append(f"ams-iam-audit: {self.run.describe_source()}")
            if self.run.organization:
                lines.append(f"ams-iam-audit: {self.run.organization}")
        return lines

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        """Times pytest making the cases (``cases`` in the timings line; ``collect`` is reading the
        account): bench/README.md divides it by the cases made."""
        started = time.perf_counter()
        result = yield
        if hasattr(self.config, "workerinput") or not _xdist_active(self.config):
            # an xdist controller makes no cases (its workers do): no time to report
            self.run.timings["cases"] = time.perf_counter() - started
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Before ``-k``/``-m`` deselect anything: every rule collected is known, so a waiver or a
        baseline naming rules is checked against all of them."""
        if not hasattr(self.config, "workerinput"):  # an xdist worker's error would crash the session
            rules = {r.id: r for r in (get_rule(getattr(item, "function", None)) for item in items) if r}
            check_waivers(self.options, set(rules))
            self._check_baseline_rules([_rule_json(r) for r in rules.values()])
        places: dict[Any, tuple[str, int | None]] = {}
        for item in items:
            rule = get_rule(getattr(item, "function", None))
            if rule is None:
                continue
            item.extra_keyword_matches.add(rule.id)
            subject = _item_subject(item, rule)
            item.user_properties.extend(
                [
                    _property("rule_id", rule.id),
                    _property("severity", rule.severity.value),
                    ("resource", scrub(subject.id)),
                ]
            )
            account = item_account(item) if self.contexts is not None else None
            if account is not None:  # several accounts: JUnit names each case's account too
                item.user_properties.append(_property("account_id", account))
            _share_location(item, places)

    def _check_baseline_rules(self, rules: list[dict[str, Any]]) -> None:
        if self.options.baseline is None or not rules:
            return
        try:
            self.options.baseline.check_rules(rules)
        except BaselineError as exc:
            raise pytest.UsageError(terminal_safe(str(exc))) from None

    # --- outcomes ---------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        rule = get_rule(getattr(item, "function", None))
        if rule is None:
            return rep
        if rep.longrepr is not None:
            rep.longrepr = _clean(rep.longrepr)
        # pytest keeps every report to the end; a case's three share one keywords dict (at the maximum
        # quotas that is 186,000 dicts fewer)
        keywords = item.stash.get(_KEYWORDS_KEY, None)
        if keywords is not None and keywords == rep.keywords:
            rep.keywords = keywords
        else:
            item.stash[_KEYWORDS_KEY] = rep.keywords
        finding = _finding(item, rule, call, rep)
        if finding is not None:
            finding = waive(finding, self.options.waivers, self.options.today)
            if self.options.baseline is not None:
                finding = self.options.baseline.classify(finding)
            _accept(rep, finding)
            # objects here; JSON only when the report is serialized (xdist, report logs)
            rep.ams_finding = finding  # type: ignore[attr-defined]
            rep.ams_rule = rule  # type: ignore[attr-defined]
            if self.contexts is not None:
                rep.ams_account = item_account(item)  # type: ignore[attr-defined]
            # one severity everywhere: JUnit's property says the finding's (graded) severity, as the reports do
            item.user_properties[:] = [
                _property("severity", finding.severity) if p[0] == "severity" else p for p in item.user_properties
            ]
        if rep.when == "teardown":
            # judged: nothing of this case is needed again
            if EVIDENCE_KEY in item.stash:
                del item.stash[EVIDENCE_KEY]
            if _KEYWORDS_KEY in item.stash:
                del item.stash[_KEYWORDS_KEY]
        return rep

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """An ``examined`` case passes without running the rule: it stands for the subjects that hold
        nothing the rule judges (``scopes.Examined``). The light protocol does the same."""
        rule = get_rule(pyfuncitem.function)
        if rule is not None and isinstance(item_case(pyfuncitem, rule.scope), Examined):
            return True
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(self, report: object) -> Generator[None, object, object]:
        data = yield
        if isinstance(data, dict):
            if isinstance(data.get("ams_finding"), Finding):
                data["ams_finding"] = data["ams_finding"].to_json()
            if isinstance(data.get("ams_rule"), Rule):
                data["ams_rule"] = data["ams_rule"].as_dict()
        return data

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        """pytest's terminal keeps every report it is given, the passing setups and teardowns too
        (under the category ``""``, which nothing shows or counts): two of each case's three reports,
        dropped once the case is done (about 1 KB a case, bench/README.md). ``--durations`` then lists
        the rule calls' durations, not those of the plugin's trivial setups and teardowns. A passing
        call is kept as a count only when nothing will show it (``_thin_passes``), a failing one
        with the lines the terminal prints (``kept_reports``)."""
        call = self._calls.pop(nodeid, None)  # this case's, not another's (xdist interleaves cases)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        stats = getattr(reporter, "stats", None)
        if isinstance(stats, dict):
            stats.pop("", None)
            if call is not None and call.passed and self._thin_passes(reporter):
                kept = stats.get("passed", [])
                # among the last few: under xdist other workers' cases may have been logged since
                for at in range(len(kept) - 1, max(len(kept) - 9, -1), -1):
                    if kept[at] is call:
                        kept[at] = PASS_COUNTED
                        break
            elif call is not None and call.failed:
                compact = compact_failure(call.longrepr)
                if compact is not None:
                    call.longrepr = compact

    def _thin_passes(self, reporter: Any) -> bool:
        """Whether pytest's terminal may keep only the count of passing rule cases: nothing it will
        show reads them (no ``-rp``/``-rP``/``-rA``, no ``--durations``, no progress in ``times``
        style) and no ``--fix`` recounts them. A passing case's call report, its keywords and
        properties are about 1 KB, and AMS-S3-001's passes alone are thousands at IAM's quotas
        (bench/README.md, round 4)."""
        if self._thin is None:
            hasopt = getattr(reporter, "hasopt", None)
            self._thin = (
                callable(hasopt)
                and not hasopt("p")
                and not hasopt("P")
                and self.config.getoption("durations", None) is None
                and self.config.getini("console_output_style") != "times"  # progress sums their durations
                and self.options.fix is None
            )
        return self._thin

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reported.add(report.nodeid)
        data = getattr(report, "ams_finding", None)
        if data is None:
            return
        if report.when == "call" and (report.passed or report.failed):
            self._calls[report.nodeid] = report
        finding = data if isinstance(data, Finding) else Finding.from_json(data)
        try:
            finding = self._enriched(finding)
        except Exception as exc:  # a team's hook: stop the run with its message, never a traceback
            message = f"pytest_ams_iam_audit_finding: {type(exc).__name__}: {exc}"
            pytest.exit(terminal_safe(message), returncode=pytest.ExitCode.USAGE_ERROR)
        self.findings.append(finding)
        account = getattr(report, "ams_account", None)
        if account is not None:
            self.account_of[finding.nodeid] = str(account)
        rule = getattr(report, "ams_rule", None)
        if isinstance(rule, Rule):
            if rule.id not in self.rules:
                self.rules[rule.id] = rule.as_dict()
        elif rule is not None and rule["id"] not in self.rules:
            # under xdist the controller collects nothing: the workers' rules are checked as they arrive
            self.rules[rule["id"]] = rule
            if self.options.baseline is not None:
                try:
                    self.options.baseline.check_rules([{**rule, "fixable": rule["id"] in FIXABLE_RULES}])
                except BaselineError as exc:
                    pytest.exit(terminal_safe(str(exc)), returncode=pytest.ExitCode.USAGE_ERROR)

    def _enriched(self, finding: Finding) -> Finding:
        """``finding`` with what the ``pytest_ams_iam_audit_finding`` implementations add to its
        evidence (they may add items, never replace the rule's)."""
        hook = self.config.hook.pytest_ams_iam_audit_finding
        if not hook.get_hookimpls():
            return finding
        # each implementation sees a copy: what it changes in place never reaches the filed finding
        additions = hook(finding=copy.deepcopy(finding), config=self.config)
        if not additions:
            return finding
        evidence = dict(finding.evidence)
        for added in additions:
            if not isinstance(added, Mapping):
                raise TypeError(
                    f"pytest_ams_iam_audit_finding returned {type(added).__name__} for {finding.nodeid}: "
                    "return None or a mapping of evidence items"
                )
            items = jsonable(dict(added))  # keys as the findings file will hold them (str, masked)
            clash = sorted(k for k in items if k in evidence)
            if clash:
                raise ValueError(
                    f"pytest_ams_iam_audit_finding would replace evidence {', '.join(clash)} of {finding.nodeid}: "
                    "an implementation adds evidence items, it never rewrites the rule's"
                )
            evidence.update(items)
        return dataclasses.replace(finding, evidence=evidence)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        started = time.perf_counter()
        result = yield
        self.run.timings["evaluate"] = time.perf_counter() - started
        if self.options.fix is not None and not hasattr(self.config, "workerinput"):
            # the failures pytest counted (one the baseline already had was reported as xfail)
            # and a not-assessed case (an error) that a fix can settle (the execution role it creates)
            counted = {
                f.nodeid
                for f in self.findings
                if (f.outcome is Outcome.FAIL and f.baseline != "unchanged")
                or (f.outcome is Outcome.ERROR and f.resource == NOT_ASSESSED)
            }
            assert isinstance(self.run, AuditRun), "--fix audits one account"
            self.fix = run_fix_phase(self.options, self.run, self.findings, session.items)
            self.findings = self.fix.findings
            self._count_fixed(session, {f.nodeid for f in self.fix.fixed} & counted)
            self.run.timings["fix"] = time.perf_counter() - started - self.run.timings["evaluate"]
        return result

    def _count_fixed(self, session: pytest.Session, fixed: set[str]) -> None:
        """A fixed finding's test failed when it ran: report it as "fixed", not "failed", in pytest's
        own counts and exit status (a run whose failures were all fixed exits 0)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for category, when in (("failed", "call"), ("error", "setup")):  # a not-assessed case errs in setup
                reports = reporter.stats.get(category, [])
                moved = [r for r in reports if r.nodeid in fixed and r.when == when]
                reporter.stats[category] = [r for r in reports if r not in moved]
                if moved:
                    reporter.stats.setdefault("fixed", []).extend(moved)
        session.testsfailed = max(0, session.testsfailed - len(fixed))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return
        if session.exitstatus == pytest.ExitCode.USAGE_ERROR and not self.reported:
            return  # refused before any rule ran (a waiver or baseline that does not fit): nothing to report
        started = time.perf_counter()
        for context in self.contexts.values() if self.contexts is not None else (self.context,):
            context.forget_analyses()  # every case is judged: the reports need only the findings
        self.incomplete_reason = self._incomplete(session)
        rules = [{**r, "fixable": r["id"] in FIXABLE_RULES} for r in self.rules.values()]
        try:
            if isinstance(self.run, AccountsRun):
                self.report_paths = write_accounts_results(
                    self.options.report_dir,
                    self.run,
                    self.findings,
                    self.account_of,
                    rules,
                    self.config,
                    self.started,
                    exit_status=int(session.exitstatus),
                    extra_for=self._account_sections,
                    incomplete=self.incomplete_reason,
                )
                self.run.timings["report"] = time.perf_counter() - started
                if self.run.errors and session.exitstatus == pytest.ExitCode.OK:
                    # an account that could not be audited fails the run, even with its cases deselected
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
                return
            self.report_paths = report.write_results(
                self.options.report_dir,
                self.findings,
                rules,
                self.run,
                self.config,
                self.started,
                exit_status=int(session.exitstatus),
                extra=self._extra_sections(),
                incomplete=self.incomplete_reason,
            )
        except OutputError as exc:
            # the audit ran, but its results are not where they were asked for: not a finding (1),
            # not a traceback (3); a usage error naming the path
            self.output_error = f"results not written: {exc}"
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        self.run.timings["report"] = time.perf_counter() - started

    def _waiver_usage(self) -> list[WaiverUsage]:
        """Each waiver's use in this run, computed once the findings are final."""
        if self._usage is None:
            self._usage = waiver_usage(self.options.waivers, self.findings)
        return self._usage

    def _incomplete(self, session: pytest.Session) -> str | None:
        """Why this run did not judge every case it collected (``None``: it did)."""
        stopped = session.shouldfail or session.shouldstop
        if self.collected is None:
            return f"stopped early ({stopped})" if stopped else None
        missing = self.collected - len(self.reported)
        if missing <= 0:
            return None  # every case judged, even if the stop came with the last one
        if stopped:
            return f"stopped early ({stopped}): {missing} of {self.collected} collected case(s) not judged"
        return f"{missing} of {self.collected} collected case(s) not judged"

    def _account_sections(self, findings: list[Finding]) -> dict[str, Any]:
        """One account's extra sections in a run of several: its own waivers' use (a waiver matches
        in any account; each account's file says where it matched there). ``--baseline`` and
        ``--fix`` are refused with several accounts."""
        options = self.options
        if options.waiver_file is None:
            return {}
        return {"waivers": [u.to_json(options.today) for u in waiver_usage(options.waivers, findings)]}

    def _extra_sections(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        options = self.options
        if options.waiver_file is not None:
            extra["waivers"] = [usage.to_json(options.today) for usage in self._waiver_usage()]
        if options.baseline is not None:
            extra["baseline"] = options.baseline.summary(self.findings)
        if self.fix is not None:
            extra["fix"] = {
                "mode": self.fix.mode,
                "plan": str(self.fix.plan_path),
                "journal": str(self.fix.journal_path) if self.fix.journal_path else None,
                "actions": len(self.fix.plan.actions),
                "changes": sum(len(r.calls) for r in self.fix.results.values()),
                "fixed": len(self.fix.fixed),
            }
        return extra

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        options = self.options
        if isinstance(self.run, AccountsRun):
            write_summary(terminalreporter, self._accounts_summary(self.run))
            return
        lines = summary_lines(
            account_id=self.run.inventory.account_id,
            source=self.run.describe_source(),
            findings=self.findings,
            rules=self.rules,
            incomplete=self.incomplete_reason,
            unreadable=self.run.inventory.unreadable,
            fix=fix_lines(self.fix, self.run) if self.fix is not None else (),
            waivers=options.waivers,
            waiver_usage=self._waiver_usage(),
            today=options.today,
            baseline=options.baseline,
            output_error=self.output_error,
            written=self.report_paths,
            timings=self.run.timings,
            demo=self.run.demo is not None,
            snapshot_saved=options.save_snapshot,
        )
        if self.xdist_note is not None:
            lines.append(TerminalLine(self.xdist_note, color="yellow"))
        write_summary(terminalreporter, lines)

    def _accounts_summary(self, run: AccountsRun) -> list[TerminalLine]:
        """The summary of a run of several accounts: the rules' counts over every account, then each
        account that could not be audited or read in full."""
        lines = summary_lines(
            account_id="",
            source="",
            findings=self.findings,
            rules=self.rules,
            incomplete=self.incomplete_reason,
            unreadable=(),
            waivers=self.options.waivers,
            waiver_usage=self._waiver_usage(),
            today=self.options.today,
            output_error=self.output_error,
            written=self.report_paths,
            timings=run.timings,
        )
        return [lines[0], *account_lines(run), *lines[2:]]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        last = closing_line(self.findings, self.report_paths)
        if reporter is not None and last is not None and not hasattr(config, "workerinput"):
            write_summary(reporter, [last])
        self.run.close()
        # What became garbage among the frozen objects (a cycle dropped while the cases were made,
        # the AWS session --fix kept) is collected now, once, while pytest's unraisable-exception
        # hook still reports what its finalizers raise; then frozen again until ``thaw``.
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    def thaw(self) -> None:
        """Give the run's objects back to the garbage collector (``settle`` froze them) and its
        thresholds back to what they were, as the very last of the run's cleanups. Not earlier:
        pytest's unraisable-exception check collects garbage at its unconfigure and again in its
        cleanup (``gc_collect_harder``), after the plugin's unconfigure has collected once, and each
        would walk the whole inventory and every case again (bench/README.md, round 5)."""
        gc.unfreeze()
        gc.set_threshold(*self._gc_thresholds)
        _freeze_at_exit()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)
        self.settle()

    def settle(self) -> None:
        """The inventory, and then the collected cases, live until the run ends: move them out of
        the garbage collector's way (``gc.freeze``), so each collection stops walking them again.
        The first collection generation runs every 50,000 allocations instead of 700. Together about a
        tenth of an audit at the default quotas (bench/README.md); undone by ``thaw``, the run's last cleanup.

        The first time, what reading the account left in reference cycles (a botocore session and
        its service models, once the run has let them go) is collected first: frozen, it would stay
        to the end of the run."""
        if not self._settled:
            gc.collect()
            self._settled = True
        gc.freeze()
        gc.set_threshold(50_000, *self._gc_thresholds[1:])


#: the JUnit properties every case of a rule, severity or account shares (``_property``)
_PROPERTIES: dict[tuple[str, str], tuple[str, str]] = {}


def _property(name: str, value: str) -> tuple[str, str]:
    """The one ``(name, value)`` tuple for a property many cases carry: pytest copies each case's
    properties into every report it keeps, so at the maximum quotas a tuple of its own per case and
    report is about 20 MB (bench/README.md, round 4). Only plain strings are shared (a team rule's
    severity may be anything: it gets a tuple of its own, as before)."""
    if type(value) is not str:
        return (name, value)
    return _PROPERTIES.setdefault((name, value), (name, value))


def _accept(rep: pytest.TestReport, finding: Finding) -> None:
    """A waived failure, or one the baseline already had, is reported the way pytest reports an
    expected failure (xfail): visible, counted apart, not failing the run."""
    if finding.outcome is Outcome.WAIVED and finding.waiver is not None:
        w = finding.waiver
        reason = f"waived until {w['expires']} by {w['owner']}: {w['justification']}"
    elif finding.baseline == "unchanged":
        reason = "in the baseline"
    else:
        return
    rep.outcome = "skipped"
    rep.wasxfail = terminal_safe(reason)  # a waiver's justification is text from a file


def _clean(value: Any, seen: set[int] | None = None) -> Any:
    """A failure's report (pytest's ``longrepr``: terminal, ``--junitxml``, xdist) with every string
    in it scrubbed and its control characters made visible, in place where it is an object. Each
    object is cleaned once: pytest's chain of a failure names its traceback and crash twice."""
    if isinstance(value, str):
        return terminal_safe(value)
    if seen is None:
        seen = set()
    if isinstance(value, list):
        value[:] = [_clean(v, seen) for v in value]
        return value
    if isinstance(value, tuple):
        return tuple(_clean(v, seen) for v in value)
    names = _field_names(type(value))
    if names and id(value) not in seen:
        seen.add(id(value))
        for name in names:
            current = getattr(value, name)
            cleaned = _clean(current, seen)
            if cleaned is not current:
                object.__setattr__(value, name, cleaned)
    return value


def _field_names(cls: type) -> tuple[str, ...]:
    """The fields ``_clean`` walks in an object of class ``cls`` (a dataclass: pytest's traceback
    representations are), looked up once per class."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else ()
        _FIELD_NAMES[cls] = names
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _share_location(item: pytest.Item, places: dict[Any, tuple[str, int | None]]) -> None:
    """Give a rule case its ``location`` (file, line, name: the terminal, JUnit and every report read
    it) as pytest would compute it, but the file and line once per rule function, not once per case:
    pytest finds them from the function's source and the file's path relative to the rootdir each time
    (0.06 ms a case). Only for plain ``pytest.Function`` items, whose ``reportinfo`` is pytest's."""
    if type(item) is not pytest.Function or "location" in item.__dict__:
        return
    function = item.obj
    place = places.get(function)
    if place is None:
        relfspath, lineno, _name = item.location  # pytest's own, for the rule's first case
        places[function] = (relfspath, lineno)
    else:
        item.__dict__["location"] = (*place, item.getmodpath())


def _rule_json(rule: Rule) -> dict[str, Any]:
    """A rule as findings.json lists it."""
    return {**rule.as_dict(), "fixable": rule.id in FIXABLE_RULES}


def _item_subject(item: pytest.Item, rule: Rule) -> Case:
    case = item_case(item, rule.scope)
    return case if case is not None else NotApplicable(reason="not parametrized", id=item.name)


def _finding(item: pytest.Item, rule: Rule, call: pytest.CallInfo[None], rep: pytest.TestReport) -> Finding | None:
    subject = _item_subject(item, rule)
    recorder = item.stash.get(EVIDENCE_KEY, None)
    evidence: dict[str, Any] = dict(recorder.items) if recorder is not None else {}
    severity = (recorder.severity if recorder is not None and recorder.severity else None) or rule.severity.value
    outcome: Outcome
    if rep.when == "setup":
        if rep.passed:
            return None
        if isinstance(subject, Unreadable):
            outcome, message = Outcome.ERROR, f"could not be evaluated: {subject.message()}"
            evidence["unreadable"] = [
                {"section": s.name, "error": s.error, "missing_permission": s.permission} for s in subject.sections
            ]
        elif isinstance(subject, NotAssessed):
            outcome, message = Outcome.ERROR, subject.reason
            evidence.update(subject.evidence)
        elif rep.skipped:
            reason = subject.reason if isinstance(subject, NotApplicable) else _skip_reason(rep)
            outcome, message = Outcome.NOT_APPLICABLE, reason
        else:
            assert call.excinfo is not None
            outcome, message = Outcome.ERROR, f"setup failed: {failure_message(call.excinfo.value)}"
    elif rep.when == "call":
        if rep.passed and isinstance(subject, Examined):
            outcome, message = Outcome.PASS, subject.message()
            evidence.update(subject.evidence())
        elif rep.passed:
            outcome, message = Outcome.PASS, "compliant"
        elif rep.skipped:
            outcome, message = Outcome.NOT_APPLICABLE, _skip_reason(rep)
        else:
            assert call.excinfo is not None
            exc = call.excinfo.value
            if isinstance(exc, AssertionError | pytest.fail.Exception):
                outcome, message = Outcome.FAIL, failure_message(exc)
            else:
                outcome, message = Outcome.ERROR, f"{type(exc).__name__}: {failure_message(exc)}"
    else:
        return None
    arn = subject.arn if isinstance(subject, Subject) else None
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=severity if outcome is Outcome.FAIL else rule.severity.value,
        area=rule.area,
        outcome=outcome,
        resource=subject.id,
        resource_arn=arn,
        message=message,
        remediation=rule.remediation if outcome is Outcome.FAIL else "",
        evidence=evidence,
        nodeid=item.nodeid,
    )


def _skip_reason(rep: pytest.TestReport) -> str:
    longrepr = rep.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"
