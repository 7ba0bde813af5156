"""A run of several accounts: each account reached, guarded and read once, a few at a time.

:func:`open_accounts` opens the caller's own session once (``--aws-profile``, ``--aws-role-arn``), lists
the organization's accounts when ``--aws-org`` asks, then reads every account in threads, at most
:data:`CONCURRENT_ACCOUNTS` at a time. The caller's own account is read with the caller's session;
every other account through AssumeRole on ``arn:<partition>:iam::<id>:role/<role>`` with a
RoleSessionName that says who audits (:func:`aws.auditor_session_name`). The account guard holds for
each: the assumed session's GetCallerIdentity must answer the account asked for.

An account that cannot be assumed, guarded or read is not a reason to stop the others: it is kept
with its error (scrubbed), and the plugin makes it one error case per rule (``[<id>:unreachable]``),
so it is in every output and fails the run, never skipped silently.

boto3 clients may be shared by threads; sessions may not. The caller's STS client is made once, before
the threads start; each thread makes the session of its account from the credentials it gets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError

from .. import report
from ..accounts import AccountTarget, OrganizationError, organization_accounts
from ..aws import (
    DEFAULT_REGION,
    AwsAccessError,
    AwsClients,
    AwsTarget,
    CallerIdentity,
    assume_with,
    auditor_session_name,
    base_session,
    caller_identity,
    guard_account,
    is_account_id,
    role_arn_in,
)
from ..demo import DEMO_REGION, DemoUnavailable
from ..demo_org import DemoOrganization
from ..findings import Finding, Outcome
from ..inventory.collect import collect
from ..inventory.model import Inventory, Section
from ..inventory.snapshot import SnapshotError, load_snapshot, save_snapshot
from ..jsonio import OutputError, check_writable_dir, scrub, terminal_safe
from ..report.terminal import TerminalLine
from ..rule import Rule
from ..scopes import AuditContext, NotAssessed, subjects_for
from .fixtures import AccountCase
from .options import AuditOptions
from .run import AuditRun, RunError

__all__ = [
    "ACCOUNTS_DIR",
    "CONCURRENT_ACCOUNTS",
    "UNREACHABLE",
    "AccountsRun",
    "account_cases",
    "account_lines",
    "accounts_from_workerinput",
    "open_accounts",
    "write_accounts_results",
]

#: Accounts read at the same time (threads): each reads its own account's pages one at a time.
CONCURRENT_ACCOUNTS = 4
#: The case id (after ``<account>:``) of an account that could not be audited.
UNREACHABLE = "unreachable"


@dataclass
class AccountsRun:
    """Every account of one run: ``runs`` each account's (in the order named; an account that could
    not be audited has an empty inventory), ``errors`` why an account could not be audited."""

    runs: dict[str, AuditRun]
    errors: dict[str, str]
    started_at: datetime
    #: who audits (the caller's ARN; ``None`` in an xdist worker)
    caller_arn: str | None = None
    #: ``--aws-org``: the organization's one-line summary (what is audited, what is left out)
    organization: str | None = None
    #: ``--aws-org``: the organization's accounts not audited (id, name, state), named in every report
    left_out: tuple[tuple[str, str, str], ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    #: ``--aws-account demo-org``: the demo organization this run started (stopped by :meth:`close`)
    demo: DemoOrganization | None = None
    _snapshots: list[Path] = field(default_factory=list, repr=False)

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(self.runs)

    def describe_source(self) -> str:
        audited = len(self.runs) - len(self.errors)
        who = f", caller {self.caller_arn}" if self.caller_arn else ""
        return f"{len(self.runs)} accounts, {audited} audited, {len(self.errors)} unreachable{who}"

    def to_workerinput(self) -> dict[str, Any]:
        """What xdist workers get: each account's snapshot (written once, here) or its error."""
        accounts = []
        for account_id, run in self.runs.items():
            entry: dict[str, Any] = {"account_id": account_id}
            if account_id in self.errors:
                entry["error"] = self.errors[account_id]
            else:
                assert run.worker_snapshot is not None, "open_accounts(xdist=True) writes the workers' snapshots"
                entry.update(snapshot=str(run.worker_snapshot), source=run.inventory.source)
            accounts.append(entry)
        return {"accounts": accounts, "started_at": self.started_at.isoformat()}

    def close(self) -> None:
        for path in self._snapshots:
            path.unlink(missing_ok=True)
        if self.demo is not None:
            self.demo.stop()


def unreachable_inventory(account_id: str, error: str, partition: str = "aws") -> Inventory:
    """The inventory of an account that could not be audited: nothing read, and why (its coverage)."""
    section = Section(name="account", readable=False, permission="sts:AssumeRole", error=error)
    return Inventory(
        account_id=account_id,
        partition=partition,
        collected_at=datetime.now(UTC),
        caller_arn=None,
        regions=(),
        sections=(section,),
    )


def accounts_from_workerinput(data: dict[str, Any]) -> AccountsRun:
    """An xdist worker's accounts: the controller's inventories, from the snapshots it wrote."""
    started = datetime.fromisoformat(data["started_at"])
    runs: dict[str, AuditRun] = {}
    errors: dict[str, str] = {}
    for entry in data["accounts"]:
        account_id = entry["account_id"]
        if "error" in entry:
            errors[account_id] = entry["error"]
            runs[account_id] = AuditRun(unreachable_inventory(account_id, entry["error"]), started)
            continue
        try:
            inventory = load_snapshot(Path(entry["snapshot"]))
        except SnapshotError as exc:
            raise RunError(f"worker cannot load the controller's snapshot of account {account_id}: {exc}") from None
        runs[account_id] = AuditRun(inventory, started, worker_snapshot=Path(entry["snapshot"]))
    return AccountsRun(runs=runs, errors=errors, started_at=started)


def _error_text(exc: BaseException) -> str:
    """An account's error as every output shows it: masked, on one line."""
    text = str(exc) if isinstance(exc, AwsAccessError) else f"{type(exc).__name__}: {exc}"
    return terminal_safe(scrub(" ".join(text.split())))


@dataclass(frozen=True)
class _Caller:
    session: boto3.Session
    identity: CallerIdentity
    sts: Any  # the caller's STS client, shared by the threads


def _open_one(options: AuditOptions, caller: _Caller, target: AccountTarget, started: datetime) -> AuditRun:
    """Reach, guard and read one account (in a thread of its own)."""
    begun = time.perf_counter()
    own = target.account_id == caller.identity.account_id
    regions = target.regions or options.regions or (caller.session.region_name or DEFAULT_REGION,)
    if own or target.role_name is None:
        session = caller.session
    else:
        arn = role_arn_in(target.account_id, target.role_name, caller.identity.partition)
        session = assume_with(caller.sts, arn, auditor_session_name(caller.identity.arn), regions[0])
    identity = caller_identity(session, options.endpoint_url, options.call_timeout)
    guard_account(target.account_id, identity)
    clients = AwsClients(session, options.endpoint_url, options.call_timeout)
    run = AuditRun(inventory=collect(clients, identity, regions), started_at=started)
    run.timings["collect"] = time.perf_counter() - begun
    return run


def _targets(
    options: AuditOptions, caller: _Caller
) -> tuple[tuple[AccountTarget, ...], str | None, tuple[tuple[str, str, str], ...]]:
    """The accounts named, then the organization's (``--aws-org``), each account once; the
    organization's summary line and the accounts it left out."""
    chosen = {t.account_id: t for t in options.targets}
    summary = None
    left_out: tuple[tuple[str, str, str], ...] = ()
    if options.org:
        try:
            organization = organization_accounts(
                caller.session,
                role_name=options.org_role,
                endpoint_url=options.endpoint_url,
                call_timeout=options.call_timeout,
            )
        except OrganizationError as exc:
            raise RunError(str(exc)) from None
        for target in organization.targets:
            chosen.setdefault(target.account_id, target)
        summary = organization.summary
        left_out = tuple(entry for entry in organization.left_out if entry[0] not in chosen)
    return tuple(chosen.values()), summary, left_out


def open_accounts(
    options: AuditOptions, xdist: bool = False, progress: Callable[[str], None] | None = None
) -> AccountsRun:
    """Open the caller's session, then reach and read every account (see the module docstring).
    Raises :class:`RunError` when the caller's own session cannot be opened (nothing can be read);
    an account that cannot be read is kept with its error. ``xdist``: write each account's snapshot
    for the workers. ``progress`` is told about each account as it is done."""
    started = datetime.now(UTC)
    demo = None
    if options.demo_org:
        try:
            demo = DemoOrganization().start()
        except DemoUnavailable as exc:
            raise RunError(str(exc)) from None
        except (BotoCoreError, OSError) as exc:  # e.g. AWS_PROFILE naming a profile this machine lacks
            raise RunError(f"--aws-account demo-org: the demo organization could not start: {exc}") from None
        # the organization's own server, region and management credentials; the rest as asked
        options = replace(options, endpoint_url=demo.endpoint_url, regions=options.regions or (DEMO_REGION,))
    try:
        return _open_accounts(options, xdist, progress, started, demo)
    except BaseException:
        if demo is not None:
            demo.stop()
        raise


def _open_accounts(
    options: AuditOptions,
    xdist: bool,
    progress: Callable[[str], None] | None,
    started: datetime,
    demo: DemoOrganization | None,
) -> AccountsRun:
    key, secret = demo.credentials if demo is not None else (None, None)
    try:
        session, identity = base_session(
            AwsTarget(
                account_id="",
                regions=options.regions,
                profile=options.profile,
                role_arn=options.role_arn,
                endpoint_url=options.endpoint_url,
                access_key_id=key,
                secret_access_key=secret,
                call_timeout=options.call_timeout,
            )
        )
    except AwsAccessError as exc:
        raise RunError(str(exc)) from None
    sts = AwsClients(session, options.endpoint_url, options.call_timeout).client("sts", session.region_name)
    caller = _Caller(session, identity, sts)
    targets, summary, left_out = _targets(options, caller)
    if not targets:
        raise RunError("--aws-org: the organization has no active account to audit")
    runs: dict[str, AuditRun] = {}
    errors: dict[str, str] = {}
    pool = ThreadPoolExecutor(max_workers=min(CONCURRENT_ACCOUNTS, len(targets)))
    try:
        futures = {t.account_id: pool.submit(_open_one, options, caller, t, started) for t in targets}
        for target in targets:
            try:
                runs[target.account_id] = futures[target.account_id].result()
            except Exception as exc:  # any failure of one account is that account's error
                errors[target.account_id] = _error_text(exc)
                runs[target.account_id] = AuditRun(
                    unreachable_inventory(target.account_id, errors[target.account_id], identity.partition), started
                )
            if progress is not None:
                progress(target.account_id)
    except BaseException:
        # an interrupt (Ctrl-C): the accounts not started yet are dropped, not read one after another
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    result = AccountsRun(
        runs=runs,
        errors=errors,
        started_at=started,
        caller_arn=identity.arn,
        organization=summary,
        left_out=left_out,
        demo=demo,
    )
    if xdist:
        for account_id, run in runs.items():
            if account_id in errors:
                continue
            try:
                fd, name = tempfile.mkstemp(prefix=f"ams-iam-audit-{account_id}-", suffix=".snapshot.json")
                os.close(fd)
                result._snapshots.append(Path(name))
                save_snapshot(run.inventory, Path(name))
            except OSError as exc:
                result.close()
                raise RunError(f"cannot write the snapshot xdist workers read (temporary directory): {exc}") from None
            except BaseException:  # an interrupt: no snapshot left behind (the caller stops the demo)
                result.demo = None
                result.close()
                raise
            run.worker_snapshot = Path(name)
    return result


def account_cases(
    run: AccountsRun, contexts: Mapping[str, AuditContext], rule: Rule
) -> tuple[list[AccountCase], list[str]]:
    """A rule's cases over every account, and their ids ``<account>:<case id>`` (so ``-k <account>``
    selects an account); an account that could not be audited is one error case,
    ``<account>:unreachable``, whose message is why."""
    params: list[AccountCase] = []
    ids: list[str] = []
    for account, context in contexts.items():
        error = run.errors.get(account)
        if error is not None:
            reason = f"account {account} could not be audited: {error}"
            params.append(AccountCase(account, NotAssessed(reason, {"account_error": error}, UNREACHABLE)))
            ids.append(f"{account}:{UNREACHABLE}")
            continue
        items = subjects_for(rule.scope, context, rule.select, rule.select_description, rule.judges, rule.unjudged)
        params.extend(AccountCase(account, i) for i in items)
        ids.extend(f"{account}:{scrub(i.id)}" for i in items)
    return params, ids


def account_lines(run: AccountsRun) -> list[TerminalLine]:
    """The terminal summary's lines about the accounts: how many, the organization's summary, each
    account that could not be audited (red) or was read only in part (yellow)."""
    lines = [TerminalLine(run.describe_source())]
    if run.organization:
        lines.append(TerminalLine(run.organization))
    for account, error in run.errors.items():
        lines.append(TerminalLine(f"UNREACHABLE account {account}: {error}", "red"))
    for account, audited in run.runs.items():
        unread = [s.name for s in audited.inventory.unreadable] if account not in run.errors else []
        if unread:
            lines.append(TerminalLine(f"account {account}: unreadable {', '.join(unread)}", "yellow"))
    return lines


@dataclass(frozen=True)
class _AccountReport:
    """One account's run as its report sees it (``report.AuditedRun``): an account of the demo
    organization says it is a demo, as the demo account's report does."""

    run: AuditRun
    demo: object | None

    @property
    def inventory(self) -> Inventory:
        return self.run.inventory

    @property
    def snapshot_sha256(self) -> str:
        return self.run.snapshot_sha256

    @property
    def execution_role_arns(self) -> tuple[str, ...]:
        return self.run.execution_role_arns

    @property
    def timings(self) -> Mapping[str, float]:
        return self.run.timings


#: Where each account's own findings.json goes, under the report directory.
ACCOUNTS_DIR = "accounts"


def _drop_other_accounts_files(directory: Path, accounts: set[str]) -> None:
    """An earlier run's findings of accounts this run did not audit, left in ``accounts/``, would be
    merged with this run's by ``ams-iam-audit merge accounts/*/findings.json``: removed (their
    findings.json, and the folder when nothing else is in it)."""
    if not directory.is_dir():
        return
    for folder in directory.iterdir():
        if folder.is_dir() and is_account_id(folder.name) and folder.name not in accounts:
            (folder / report.FINDINGS_FILE).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_accounts_results(
    report_dir: Path,
    run: AccountsRun,
    findings: list[Finding],
    account_of: Mapping[str, str],
    rules: list[dict[str, Any]],
    config: pytest.Config,
    started: float,
    exit_status: int,
    extra_for: Callable[[list[Finding]], Mapping[str, Any]] | None = None,
    incomplete: str | None = None,
) -> list[Path]:
    """Each account's ``findings.json`` (``<report dir>/accounts/<id>/``: what a run of that account
    alone writes), then the organization's report merged from them into ``report_dir``
    (:func:`report.write_organization_results`). An account's file says exit status 1 when one of its
    findings failed or erred, else the run's status when the run did not finish (an interrupt),
    else 0. ``extra_for`` makes an account's extra sections (its waivers' use) from its own findings.
    Raises :class:`OutputError` naming the path that could not be written.

    Every rule makes at least one case in every account, so an account without a finding of a rule
    that another account has was deselected there (``-k``, ``-m``, ``--deselect``): its file says it
    is incomplete and which rules were not judged, never that the account complies."""
    by_account: dict[str, list[Finding]] = {account: [] for account in run.runs}
    for finding in findings:
        account = account_of.get(finding.nodeid)
        if account in by_account:
            by_account[account].append(finding)
    judged = {f.rule_id for f in findings}
    _drop_other_accounts_files(Path(report_dir) / ACCOUNTS_DIR, set(run.runs))
    files = []
    finished = exit_status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    for account, audited in run.runs.items():
        own = by_account[account]
        failing = any(f.outcome in (Outcome.FAIL, Outcome.ERROR) for f in own) or account in run.errors
        status = (1 if failing else 0) if finished else exit_status
        missing = sorted(judged - {f.rule_id for f in own})
        reasons = [incomplete] if incomplete else []
        if account in run.errors and not own:
            reasons.append(f"the account could not be audited and its cases were deselected: {run.errors[account]}")
        elif missing and not own:
            reasons.append("none of its cases selected (-k, -m or --deselect): nothing of it was judged")
        elif missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            reasons.append(
                f"{len(missing)} of the run's {len(judged)} rules not judged in this account "
                f"(its cases deselected: -k, -m or --deselect): {shown}"
            )
        directory = Path(report_dir) / ACCOUNTS_DIR / account
        problem = check_writable_dir(directory)
        if problem is not None:
            raise OutputError(f"{directory}: {problem}")
        files.extend(
            report.write_results(
                directory,
                own,
                rules,
                _AccountReport(audited, run.demo),
                config,
                started,
                exit_status=status,
                extra=extra_for(own) if extra_for is not None else None,
                incomplete="; ".join(reasons) or None,
                render=False,
            )
        )
    return [*report.write_organization_results(Path(report_dir), files, config, run.left_out), *files]
