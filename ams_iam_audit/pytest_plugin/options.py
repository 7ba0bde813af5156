"""Command-line and ini options, and their validation into one frozen :class:`AuditOptions`.

Every option lives in one group with a common prefix (``--aws-*``, ``--report-*``, ``--snapshot``);
most can also be set in ``pytest.ini``/``pyproject.toml`` (the ini name is the option's, with
underscores). A bad value stops the run before anything is read, with a message naming the option.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ..accounts import DEFAULT_ORG_ROLE, REGION_PATTERN, ROLE_NAME_PATTERN, AccountTarget, read_accounts_file
from ..aimodelshare import EXECUTION_ROLE_ENV, EXECUTION_ROLE_NAME, execution_role_trust
from ..aws import DEFAULT_CALL_TIMEOUT, is_account_id
from ..demo import DEMO_ACCOUNT_ID
from ..findings.baseline import Baseline, BaselineError, load_baseline
from ..findings.waivers import Waiver, WaiverError, load_waivers
from ..inventory.consumer_kinds import kind_titles
from ..jsonio import InputError, check_writable_dir, terminal_safe

__all__ = ["DEMO", "DEMO_ORG", "AuditOptions", "add_options"]

DEMO = "demo"
#: the embedded demo organization (``demo_org.DemoOrganization``): every active member audited in one run
DEMO_ORG = "demo-org"
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+", re.ASCII)

# (flag, ini name or None, help). The ini value is used when the flag is not given.
_OPTIONS: tuple[tuple[str, str | None, str], ...] = (
    (
        "--aws-account",
        "aws_account",
        "audit this account (12 digits), or 'demo' for the embedded demo account, or 'demo-org' for the "
        "embedded demo organization (every active member); turns audit mode on. "
        "Repeatable: several accounts are audited in one run, each reached through --aws-org-role",
    ),
    (
        "--aws-accounts",
        "aws_accounts",
        "audit the accounts this file names: one id a line, or YAML with per-account role and regions "
        "(see ams_iam_audit.accounts)",
    ),
    (
        "--aws-org-role",
        "aws_org_role",
        f"with several accounts: the role assumed in each account other than the caller's own (default "
        f"{DEFAULT_ORG_ROLE}; a read-only audit role of the same name in every account is better)",
    ),
    ("--aws-profile", "aws_profile", "boto3 profile to take credentials from"),
    (
        "--aws-role-arn",
        "aws_role_arn",
        "assume this role (STS) before auditing: the audit's own read-only role (see `ams-iam-audit fix-policy` "
        f"for --fix); never defaults to ${EXECUTION_ROLE_ENV}, the role the audit judges",
    ),
    ("--aws-endpoint-url", "aws_endpoint_url", "AWS endpoint (default: boto3's, which honours $AWS_ENDPOINT_URL)"),
    (
        "--aws-call-timeout",
        "aws_call_timeout",
        f"seconds one AWS call may take, retries included (default {DEFAULT_CALL_TIMEOUT:g}); "
        "a call past it makes the part of the account it reads unreadable",
    ),
    (
        "--aws-execution-role-arn",
        "aws_execution_role_arn",
        f"the AIModelShare execution role to audit (rules AMS-EXEC-*); default ${EXECUTION_ROLE_ENV}",
    ),
    ("--snapshot", None, "audit a saved snapshot or a raw GetAccountAuthorizationDetails JSON file, offline"),
    ("--save-snapshot", None, "write the collected inventory to this file"),
    ("--report-dir", "report_dir", "directory for findings.json (default: ams-iam-audit-report)"),
    ("--fix-journal", None, "with --fix: the journal file to write (default: <report dir>/fix-journal-<time>.jsonl)"),
    ("--waivers", "waivers", "waiver file (TOML or YAML): accepted failures, each with justification, owner, expiry"),
    ("--baseline", None, "an earlier findings.json: only failures not in it fail the run"),
)


#: What each value option's value is, as ``--help`` shows it.
_METAVARS = {
    "--aws-account": "ID|demo|demo-org",
    "--aws-accounts": "FILE",
    "--aws-org-role": "ROLE_NAME",
    "--aws-profile": "PROFILE",
    "--aws-role-arn": "ROLE_ARN",
    "--aws-endpoint-url": "URL",
    "--aws-call-timeout": "SECONDS",
    "--aws-execution-role-arn": "ROLE_ARN",
    "--snapshot": "FILE",
    "--save-snapshot": "FILE",
    "--report-dir": "DIR",
    "--fix-journal": "FILE",
    "--waivers": "FILE",
    "--baseline": "FINDINGS_JSON",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("ams-iam-audit", "AWS IAM audit against the AIModelShare least-privilege refactoring")
    for flag, ini, help_text in _OPTIONS:
        dest = flag.lstrip("-").replace("-", "_")
        action = "append" if flag == "--aws-account" else "store"
        group.addoption(flag, dest=dest, default=None, action=action, metavar=_METAVARS[flag], help=help_text)
        if ini is not None:
            parser.addini(ini, help_text, default=None)
    group.addoption(
        "--aws-region",
        dest="aws_region",
        action="append",
        default=None,
        metavar="REGION",
        help=f"region whose consumers of roles ({kind_titles()}) are read (repeatable; "
        "default: the profile's region, else us-east-1)",
    )
    parser.addini("aws_region", "regions, as --aws-region", type="linelist", default=[])
    group.addoption(
        "--aws-org",
        dest="aws_org",
        action="store_true",
        default=False,
        help="audit every active account of the caller's AWS Organization (Organizations ListAccounts, from "
        "the management or a delegated administrator account), each through --aws-org-role",
    )
    group.addoption(
        "--fix",
        dest="fix",
        action="store_true",
        default=False,
        help="fix the failing findings of fixable rules, journaling every change (see ams-iam-audit undo)",
    )
    group.addoption(
        "--fix-dry-run",
        dest="fix_dry_run",
        action="store_true",
        default=False,
        help="print and write the plan --fix would carry out (every API call); change nothing",
    )
    group.addoption(
        "--fix-unowned",
        dest="fix_unowned",
        action="store_true",
        default=False,
        help="let --fix also narrow wildcard S3 grants in policies AIModelShare does not own",
    )
    group.addoption(
        "--fix-min-idle-days",
        dest="fix_min_idle_days",
        type=int,
        default=None,
        metavar="DAYS",
        help="with --fix: keep a legacy role used within this many days (its RoleLastUsed and IAM's service "
        "last accessed data), by anything this run does not re-point; 0 turns the check off (default: 30)",
    )
    group.addoption(
        "--fix-retire-in-use",
        dest="fix_retire_in_use",
        action="store_true",
        default=False,
        help="with --fix: an ephemeral user whose key was used within --fix-min-idle-days has its keys "
        "deactivated (reversible) and its user tagged; a later --fix deletes it once they stayed unused",
    )
    group.addoption(
        "--fix-retire-grace-days",
        dest="fix_retire_grace_days",
        type=int,
        default=None,
        metavar="DAYS",
        help="with --fix: how long keys deactivated by --fix-retire-in-use must stay unused before a later "
        "--fix deletes them and their user (default: 7, at least 1)",
    )
    group.addoption(
        "--fix-execution-role-trust",
        dest="fix_execution_role_trust",
        action="append",
        default=None,
        metavar="ARN",
        help="with --fix: who may assume the AIModelShare execution role (an IAM user or role ARN, or this "
        f"account's root; repeatable). --fix then creates the role ({EXECUTION_ROLE_NAME}) when none is given or "
        "found, or replaces a failing trust; people may assume it only with MFA",
    )
    group.addoption(
        "--full-protocol",
        dest="full_protocol",
        action="store_true",
        default=False,
        help="run every rule case through pytest's whole setup/call/teardown protocol, for plugins that "
        "wrap each test's setup or call (rule cases then take about twice as long; see "
        "ams_iam_audit.pytest_plugin.protocol)",
    )
    group.addoption(
        "--aws-no-builtin-rules",
        dest="aws_no_builtin_rules",
        action="store_true",
        default=False,
        help="run only the rule paths given on the command line, not the built-in rules",
    )


def _get(config: pytest.Config, dest: str, ini: str | None) -> str | None:
    value = config.getoption(dest)
    if value is None and ini is not None:
        value = config.getini(ini) or None
    return str(value) if value is not None else None


@dataclass(frozen=True)
class AuditOptions:
    account: str | None  # 12 digits, "demo", or None (snapshot without an expected account)
    regions: tuple[str, ...]
    profile: str | None
    role_arn: str | None
    endpoint_url: str | None
    execution_role_arns: tuple[str, ...]
    snapshot: Path | None
    save_snapshot: Path | None
    report_dir: Path
    builtin_rules: bool
    fix: str | None = None  # "apply", "dry-run", or None
    fix_unowned: bool = False
    fix_journal: Path | None = None
    fix_min_idle_days: int = 30
    fix_retire_in_use: bool = False
    fix_retire_grace_days: int = 7
    #: who may assume the execution role --fix creates (``--fix-execution-role-trust``)
    fix_execution_role_trust: tuple[str, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    waiver_file: Path | None = None
    baseline: Baseline | None = None
    full_protocol: bool = False
    #: seconds one AWS call may take, all its attempts included (``--aws-call-timeout``)
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    #: the day waivers are judged on (UTC), fixed when the run starts
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    #: several accounts in one run (``account`` is then ``None``): the accounts named by
    #: ``--aws-account`` and ``--aws-accounts``, each once; ``--aws-org`` adds the organization's
    #: when the run opens (it needs the caller's session)
    targets: tuple[AccountTarget, ...] = ()
    org: bool = False
    #: the role assumed in each account other than the caller's own (``--aws-org-role``)
    org_role: str = DEFAULT_ORG_ROLE
    #: ``--aws-account demo-org``: the run starts the demo organization and audits it as ``--aws-org``
    demo_org: bool = False

    @property
    def demo(self) -> bool:
        return self.account == DEMO

    @property
    def multi(self) -> bool:
        """Several accounts (or an organization's, however many) in this run."""
        return bool(self.targets) or self.org

    @staticmethod
    def requested(config: pytest.Config) -> bool:
        """Audit mode is on when an account (or accounts) or a snapshot is given."""
        return bool(
            _accounts_given(config)
            or config.getoption("snapshot")
            or _get(config, "aws_accounts", "aws_accounts")
            or config.getoption("aws_org", False)
        )

    @classmethod
    def from_config(cls, config: pytest.Config) -> AuditOptions:
        """Raises ``pytest.UsageError`` naming the option that is wrong."""
        given = _accounts_given(config)
        for value in given:
            if value not in (DEMO, DEMO_ORG) and not is_account_id(value):
                raise pytest.UsageError(
                    f"--aws-account: {value!r} is neither a 12-digit account id nor 'demo' or 'demo-org'"
                )
        demo_org = DEMO_ORG in given
        if demo_org and (len(given) > 1 or _get(config, "aws_accounts", "aws_accounts")):
            raise pytest.UsageError(
                "--aws-account demo-org audits the demo organization alone: drop the other accounts"
            )
        if demo_org:
            for dest, flag in _DEMO_ORG_OWN.items():
                if config.getoption(dest, None):
                    raise pytest.UsageError(f"--aws-account demo-org brings its own {flag}: drop {flag}")
            given = []
        org_role = _get(config, "aws_org_role", "aws_org_role") or DEFAULT_ORG_ROLE
        if not ROLE_NAME_PATTERN.fullmatch(org_role):
            raise pytest.UsageError(
                f"--aws-org-role: {org_role!r} is not an IAM role name (1-64 of letters, digits and _+=,.@-)"
            )
        targets = _targets(config, given, org_role)
        org = demo_org or bool(config.getoption("aws_org", False))
        if DEMO in given and (len(given) > 1 or targets or org):
            raise pytest.UsageError("--aws-account demo audits the demo account alone: drop the other accounts")
        multi = bool(targets) or org
        if multi:
            _refuse_with_several_accounts(config)
        elif config.getoption("aws_org_role", None):
            raise pytest.UsageError(
                "--aws-org-role applies to a run of several accounts (--aws-account twice or more, --aws-accounts, "
                "--aws-org); to audit one account through a role, give --aws-role-arn"
            )
        account = None if multi else (given[0] if given else None)
        snapshot = config.getoption("snapshot")
        if snapshot and account == DEMO:
            raise pytest.UsageError("--snapshot and --aws-account demo exclude each other: pick one source")
        regions = tuple(config.getoption("aws_region") or config.getini("aws_region") or ())
        for region in regions:
            if not REGION_PATTERN.fullmatch(region):
                raise pytest.UsageError(f"--aws-region: {region!r} is not a region name (like us-east-1)")
        # the audit runs as the caller (or --aws-role-arn), never as the library's execution role: that
        # role is what AMS-EXEC-* judge, and it would need the audit's (and --fix's) permissions
        role_arn = _get(config, "aws_role_arn", "aws_role_arn")
        execution = _get(config, "aws_execution_role_arn", "aws_execution_role_arn")
        if execution is None and account != DEMO and not multi:
            # the variable names a role in one account: with several, each account's is discovered
            execution = os.environ.get(EXECUTION_ROLE_ENV) or None
        for flag, arn in (("--aws-role-arn", role_arn), ("--aws-execution-role-arn", execution)):
            if arn is not None and not _ROLE_ARN.fullmatch(arn):
                raise pytest.UsageError(f"{flag}: {arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        timeout_text = _get(config, "aws_call_timeout", "aws_call_timeout")
        try:
            call_timeout = float(timeout_text) if timeout_text is not None else DEFAULT_CALL_TIMEOUT
        except ValueError:
            call_timeout = float("nan")
        if not 0 < call_timeout <= 3600:
            raise pytest.UsageError(
                f"--aws-call-timeout: {timeout_text!r} is not a number of seconds between 0 and 3600 (like 60)"
            )
        report_dir = _get(config, "report_dir", "report_dir") or "ams-iam-audit-report"
        # found now, not after the whole audit: the results must have somewhere to go
        problem = check_writable_dir(Path(report_dir))
        if problem is not None:
            raise pytest.UsageError(terminal_safe(f"--report-dir {report_dir}: {problem}"))
        save = config.getoption("save_snapshot")
        if save:
            is_dir = Path(save).is_dir()
            problem = "is a directory (give a file name)" if is_dir else check_writable_dir(Path(save).parent)
            if problem is not None:
                raise pytest.UsageError(terminal_safe(f"--save-snapshot {save}: {problem}"))
        fix = "apply" if config.getoption("fix") else "dry-run" if config.getoption("fix_dry_run") else None
        if config.getoption("fix") and config.getoption("fix_dry_run"):
            raise pytest.UsageError("--fix and --fix-dry-run exclude each other: --fix-dry-run shows what --fix does")
        if fix is not None and snapshot:
            raise pytest.UsageError(
                f"--{'fix' if fix == 'apply' else 'fix-dry-run'} needs a live account, not --snapshot"
            )
        idle = config.getoption("fix_min_idle_days")
        if fix is None and (config.getoption("fix_unowned") or config.getoption("fix_journal") or idle is not None):
            raise pytest.UsageError(
                "--fix-unowned, --fix-journal and --fix-min-idle-days only apply with --fix or --fix-dry-run"
            )
        grace = config.getoption("fix_retire_grace_days")
        if fix is None and (config.getoption("fix_retire_in_use") or grace is not None):
            raise pytest.UsageError(
                "--fix-retire-in-use and --fix-retire-grace-days only apply with --fix or --fix-dry-run"
            )
        if grace is not None and grace < 1:
            raise pytest.UsageError(
                f"--fix-retire-grace-days: {grace} is less than 1; deactivated keys stay unused at least a day"
            )
        trusted = tuple(config.getoption("fix_execution_role_trust") or ())
        if trusted and fix is None:
            raise pytest.UsageError("--fix-execution-role-trust only applies with --fix or --fix-dry-run")
        if trusted:
            try:  # checked now, against the account asked for (any, for the demo), not after the audit
                execution_role_trust(trusted, account if account and is_account_id(account) else DEMO_ACCOUNT_ID)
            except ValueError as exc:
                raise pytest.UsageError(terminal_safe(f"--fix-execution-role-trust: {exc}")) from None
        if idle is not None and idle < 0:
            raise pytest.UsageError(f"--fix-min-idle-days: {idle} is negative; give 0 or more days (0: no check)")
        journal = config.getoption("fix_journal")
        if journal and Path(journal).exists():
            raise pytest.UsageError(f"--fix-journal: {journal} exists; a journal is never overwritten")
        waiver_file = _get(config, "waivers", "waivers")
        try:
            waivers = load_waivers(Path(waiver_file)) if waiver_file else ()
        except WaiverError as exc:
            raise pytest.UsageError(terminal_safe(f"--waivers: {exc}")) from None
        baseline_file = config.getoption("baseline")
        try:
            baseline = load_baseline(Path(baseline_file)) if baseline_file else None
            if baseline is not None and account is not None:
                baseline.check_account(DEMO_ACCOUNT_ID if account == DEMO else account)
        except BaselineError as exc:
            raise pytest.UsageError(terminal_safe(str(exc))) from None
        return cls(
            account=account,
            regions=regions,
            profile=_get(config, "aws_profile", "aws_profile"),
            role_arn=role_arn,
            endpoint_url=_get(config, "aws_endpoint_url", "aws_endpoint_url"),
            execution_role_arns=(execution,) if execution else (),
            snapshot=Path(snapshot) if snapshot else None,
            save_snapshot=Path(save) if save else None,
            report_dir=Path(report_dir),
            builtin_rules=not config.getoption("aws_no_builtin_rules"),
            fix=fix,
            fix_unowned=bool(config.getoption("fix_unowned")),
            fix_journal=Path(journal) if journal else None,
            fix_min_idle_days=30 if idle is None else int(idle),
            fix_retire_in_use=bool(config.getoption("fix_retire_in_use")),
            fix_retire_grace_days=7 if grace is None else int(grace),
            fix_execution_role_trust=trusted,
            waivers=waivers,
            waiver_file=Path(waiver_file) if waiver_file else None,
            baseline=baseline,
            full_protocol=bool(config.getoption("full_protocol")),
            call_timeout=call_timeout,
            targets=targets,
            org=org,
            org_role=org_role,
            demo_org=demo_org,
        )


def _accounts_given(config: pytest.Config) -> list[str]:
    """The ``--aws-account`` values, in order, each once (else the ini's, whitespace-separated)."""
    values = config.getoption("aws_account", None) or str(config.getini("aws_account") or "").split()
    return list(dict.fromkeys(str(v) for v in values))


def _targets(config: pytest.Config, given: list[str], org_role: str) -> tuple[AccountTarget, ...]:
    """The accounts of a run of several (empty: one account, or none): ``--aws-account`` (two or
    more, or one beside ``--aws-accounts``/``--aws-org``) and the accounts file's, each account once;
    the file's entry wins over ``--aws-account``'s, as it may name the account's own role and regions."""
    accounts_file = _get(config, "aws_accounts", "aws_accounts")
    from_file: tuple[AccountTarget, ...] = ()
    if accounts_file:
        try:
            from_file = read_accounts_file(Path(accounts_file), role_name=org_role)
        except InputError as exc:
            raise pytest.UsageError(terminal_safe(str(exc))) from None
    several = len(given) > 1 or bool(from_file) or bool(config.getoption("aws_org", False))
    if not several:
        return ()
    chosen = {a: AccountTarget(a, org_role) for a in given if a != DEMO}
    chosen.update((t.account_id, t) for t in from_file)
    return tuple(chosen.values())


#: What the demo organization sets itself (dest -> flag): its moto server and management credentials.
_DEMO_ORG_OWN = {
    "aws_profile": "--aws-profile",
    "aws_role_arn": "--aws-role-arn",
    "aws_endpoint_url": "--aws-endpoint-url",
}


#: What a run of several accounts refuses (dest -> why), each named in one line.
_SINGLE_ACCOUNT_ONLY = {
    "fix": "--fix changes one account at a time: run it with one --aws-account",
    "fix_dry_run": "--fix-dry-run plans for one account at a time: run it with one --aws-account",
    "snapshot": "--snapshot replays one account's inventory: it cannot be combined with several accounts",
    "save_snapshot": "--save-snapshot saves one account's inventory: run it with one --aws-account",
    "aws_execution_role_arn": "--aws-execution-role-arn names a role in one account: with several accounts, "
    "each account's execution role is discovered in it",
    "baseline": "--baseline compares one account's earlier findings.json: run each account with its own "
    "baseline (one --aws-account), or drop --baseline",
}


def _refuse_with_several_accounts(config: pytest.Config) -> None:
    for dest, why in _SINGLE_ACCOUNT_ONLY.items():
        if config.getoption(dest, None) or (dest == "aws_execution_role_arn" and config.getini(dest)):
            raise pytest.UsageError(f"several accounts: {why}")
