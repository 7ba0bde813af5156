"""The ``--fix`` / ``--fix-dry-run`` phase of an audit session, after every rule has run.

1. The failing findings become a plan (``remediate.make_plan``), written to ``fix-plan.json``.
2. Dry run: each failing finding gets the planned calls (or why there are none) in its evidence,
   and nothing is changed. Fix: the plan is applied through a journal, the account is read again,
   and every finding that failed is judged again by its own rule on the new inventory. One that now
   passes (or whose resource is gone) becomes **fixed**, with the evidence from before and after
   and the changes that were made; one that still fails says why.

Only the controller process fixes: ``--fix`` refuses xdist, so the changes are made in one order,
by one journal. And only one run fixes an account at a time: ``--fix`` takes the account's lock
(``iam_utils.acquire_fix_lock``: a marker policy IAM creates only if it does not exist) before its
first change and releases it at the end, also when the fix fails; a run that finds it held stops
with a usage error naming the holder. A lock whose run died expires after :data:`LOCK_TTL` and is
taken over, journaled. ``--fix-dry-run`` takes no lock.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from .. import iam_utils
from ..aws import error_code
from ..demo import UNSUPPORTED_CALLS
from ..findings import Evidence, Finding, Outcome, failure_message
from ..inventory.model import Inventory
from ..jsonio import write_json_atomic
from ..remediate import ActionResult, FixContext, Journal, Plan, apply_plan, make_plan
from ..remediate.plan import EmptyRole
from ..report.terminal import TerminalLine
from ..rule import Rule, get_rule
from ..scopes import NOT_ASSESSED, SCOPES, AuditContext, Subject, Unreadable, subjects_for
from .fixtures import rule_arguments
from .options import AuditOptions
from .run import AuditRun

__all__ = ["LOCK_ACTION", "LOCK_TTL", "FixOutcome", "fix_lines", "run_fix_phase"]

#: How long the account's fix lock holds; a lock older than this was left by a run that died.
LOCK_TTL = timedelta(hours=4)
#: The journal's action label for taking and releasing the lock (``undo`` leaves these alone).
LOCK_ACTION = "fix-lock"
_SERVICE_ACCESS = "iam:GenerateServiceLastAccessedDetails"


@dataclass
class FixOutcome:
    mode: str  # "apply" or "dry-run"
    inventory: Inventory  # what the plan was made from
    plan: Plan
    plan_path: Path
    findings: list[Finding]
    journal_path: Path | None = None
    results: dict[str, ActionResult] = field(default_factory=dict)
    #: what the run wants the operator to know beside the actions (a lock taken over, a check degraded)
    notes: list[str] = field(default_factory=list)

    @property
    def fixed(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome is Outcome.FIXED]


def run_fix_phase(
    options: AuditOptions, run: AuditRun, findings: list[Finding], items: list[pytest.Item]
) -> FixOutcome:
    assert options.fix is not None
    ctx = AuditContext(inventory=run.inventory)
    plan = make_plan(
        findings,
        ctx,
        unowned=options.fix_unowned,
        min_idle_days=options.fix_min_idle_days,
        retire_in_use=options.fix_retire_in_use,
        grace_days=options.fix_retire_grace_days,
        execution_trust=options.fix_execution_role_trust,
    )
    plan_path = options.report_dir / "fix-plan.json"
    write_json_atomic(plan_path, {**plan.to_json(run.inventory), "mode": options.fix})
    if options.fix == "dry-run":
        return FixOutcome("dry-run", run.inventory, plan, plan_path, [_planned(f, plan, run) for f in findings])
    if run.clients is None or run.recollect is None:
        raise pytest.UsageError("--fix needs a live account")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    journal_path = options.fix_journal or options.report_dir / f"fix-journal-{stamp}.jsonl"
    unsupported = UNSUPPORTED_CALLS if run.demo is not None else frozenset()
    iam = run.clients.client("iam")
    inv = run.inventory
    lock_arn = iam_utils.lock_arn(inv.partition, inv.account_id)
    held = _lock_holder(iam, lock_arn)  # before the journal: a refused run writes nothing
    notes: list[str] = []
    with (
        Journal(journal_path, inv.account_id, inv.caller_arn, unsupported=unsupported) as journal,
        _fix_lock(iam, lock_arn, held, journal, notes),
    ):
        access = _service_access(iam, plan, options.fix_min_idle_days, unsupported, notes)
        results = dict(apply_plan(plan, FixContext(run.clients, journal, inv, service_access=access), journal))
    checks = {  # how the roles that were emptied were shown unused
        a.target: _describe_access(access.get(a.role.arn), options.fix_min_idle_days)
        for a in plan.actions
        if isinstance(a, EmptyRole) and results.get(a.key, ActionResult("skipped")).status == "done"
    }
    after = AuditContext(inventory=run.recollect())
    by_nodeid = {item.nodeid: item for item in items}
    judged = [
        _rejudged(f, plan, results, by_nodeid.get(f.nodeid), after, journal_path, checks.get(f.resource))
        if f.outcome is Outcome.FAIL or (f.resource == NOT_ASSESSED and plan.actions_for(f))
        else f
        for f in findings
    ]
    return FixOutcome("apply", run.inventory, plan, plan_path, judged, journal_path, results, notes)


def _lock_holder(iam: Any, arn: str) -> iam_utils.FixLock | None:
    """Who holds the account's fix lock now; a usage error when another run does, or when the lock
    cannot be read (``--fix`` never runs without it)."""
    try:
        holder = iam_utils.read_fix_lock(iam, arn, ttl=LOCK_TTL)
    except (ClientError, BotoCoreError) as exc:
        raise pytest.UsageError(
            f"--fix: cannot read this account's fix lock (iam:GetPolicy on {arn}): {error_code(exc)}: "
            f"{str(exc).splitlines()[0][:300]}"
        ) from None
    now = datetime.now(UTC)
    if holder is not None and not holder.expired(now):
        raise pytest.UsageError(_held(holder, arn, now))
    return holder


def _held(holder: iam_utils.FixLock, arn: str, now: datetime) -> str:
    return (
        f"--fix: another --fix is changing this account: {holder.describe(now)} (lock: policy {arn}). "
        "Wait for it to end; if that run is dead, its lock is taken over once it expires, or delete the "
        "policy by hand."
    )


@contextmanager
def _fix_lock(
    iam: Any, arn: str, stale: iam_utils.FixLock | None, journal: Journal, notes: list[str]
) -> Iterator[iam_utils.FixLock]:
    """Hold the account's fix lock for the ``with`` block, journaled; released when the block
    ends, however it ends. ``stale`` is the expired lock of a dead run, taken over."""
    now = datetime.now(UTC)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    label = LOCK_ACTION if stale is None else f"{LOCK_ACTION} take over the expired lock of {stale.describe(now)}"
    with journal.acting_for(label):
        try:
            lock, taken_over = iam_utils.acquire_fix_lock(
                iam, arn, run_id, host=socket.gethostname(), pid=str(os.getpid()), ttl=LOCK_TTL, executor=journal
            )
        except iam_utils.FixLockHeldError as exc:
            if exc.holder is not None:
                raise pytest.UsageError(_held(exc.holder, arn, now)) from None
            raise pytest.UsageError(f"--fix: {exc} (lock: policy {arn})") from None
        except (ClientError, BotoCoreError) as exc:
            raise pytest.UsageError(
                f"--fix: cannot take this account's fix lock (iam:CreatePolicy of {arn}): {error_code(exc)}: "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
    if taken_over is not None:
        notes.append(f"took over the expired fix lock of {taken_over.describe(now)}")
    try:
        yield lock
    finally:
        with journal.acting_for(LOCK_ACTION):
            try:
                iam_utils.release_fix_lock(iam, arn, run_id, executor=journal)
            except (ClientError, BotoCoreError) as exc:
                notes.append(
                    f"the fix lock (policy {arn}) could not be released ({error_code(exc)}): it expires "
                    f"{lock.describe(datetime.now(UTC))}; delete the policy to fix again sooner"
                )


def _service_access(
    iam: Any, plan: Plan, min_idle_days: int, unsupported: frozenset[str], notes: list[str]
) -> dict[str, iam_utils.ServiceAccess]:
    """IAM's service last accessed data for every role the plan retires (none with the check off)."""
    arns = [a.role.arn for a in plan.actions if isinstance(a, EmptyRole)]
    if not arns or min_idle_days <= 0:
        return {}
    if _SERVICE_ACCESS in unsupported:
        why = "not implemented by this endpoint"
        access = {arn: iam_utils.ServiceAccess(arn, unavailable=why) for arn in arns}
    else:
        access = iam_utils.services_last_accessed(iam, arns)
    missing = [a for a in access.values() if a.unavailable]
    if missing:
        notes.append(
            f"IAM's service last accessed data is unavailable for {len(missing)} of {len(arns)} role(s) to retire "
            f"({missing[0].unavailable}): their last use is judged by RoleLastUsed alone"
        )
    return access


def _describe_access(access: iam_utils.ServiceAccess | None, min_idle_days: int) -> str:
    if min_idle_days <= 0:
        return "not checked: --fix-min-idle-days=0"
    head = f"RoleLastUsed, read just before the role was emptied, older than {min_idle_days} days"
    if access is None:
        return head
    if access.unavailable:
        return f"{head}; IAM's service last accessed data unavailable ({access.unavailable}): RoleLastUsed alone"
    if access.last_used is None:
        return f"{head}; IAM's service last accessed data: no service accessed in its tracking period"
    return f"{head}; IAM's service last accessed data: last {access.service} {access.last_used:%Y-%m-%d}"


def _planned(finding: Finding, plan: Plan, run: AuditRun) -> Finding:
    if finding.outcome is not Outcome.FAIL and not (finding.resource == NOT_ASSESSED and plan.actions_for(finding)):
        return finding
    actions = plan.actions_for(finding)
    if actions:
        planned: dict[str, Any] = {
            "actions": [a.key for a in actions],
            "calls": [c.describe() for a in actions for c in a.preview(run.inventory)],
        }
    else:
        planned = {"not_fixable": _why_not(finding, plan)}
    return replace(finding, evidence={**finding.evidence, "planned_fix": planned})


def _why_not(finding: Finding, plan: Plan) -> str:
    return plan.not_fixable.get(finding.key) or "no automatic fix for this rule: follow the remediation"


def _rejudged(
    finding: Finding,
    plan: Plan,
    results: dict[str, ActionResult],
    item: pytest.Item | None,
    after: AuditContext,
    journal_path: Path,
    last_use_check: str | None = None,
) -> Finding:
    actions = plan.actions_for(finding)
    fix: dict[str, Any] = {
        "actions": [
            {"key": a.key, "status": results[a.key].status, "reason": results[a.key].reason}
            for a in actions
            if a.key in results
        ],
        "changes": [c.describe() for a in actions if a.key in results for c in results[a.key].calls],
        "journal": str(journal_path),
    }
    if last_use_check is not None:
        fix["last_use_check"] = last_use_check
    rule = get_rule(getattr(item, "function", None))
    verdict = _judge(item, rule, finding.resource, after) if item is not None and rule is not None else None
    if verdict is not None and verdict[0] is Outcome.PASS:
        return replace(
            finding,
            outcome=Outcome.FIXED,
            message=f"fixed: {verdict[1]}",
            evidence={"before": dict(finding.evidence), "after": verdict[2], "fix": fix},
        )
    failed = [r for r in fix["actions"] if r["status"] != "done"]
    if failed:
        reason = f"{failed[0]['key']} {failed[0]['status']}: {failed[0]['reason']}"
    elif not actions:
        reason = _why_not(finding, plan)
    elif verdict is None:
        reason = "changes made, but the rule could not be re-run here: rerun the audit to confirm"
    else:
        reason = f"still failing after the changes: {verdict[1]}"
    return replace(
        finding,
        message=f"{finding.message} (not fixed: {reason})",
        evidence={**finding.evidence, "fix": {**fix, "status": "not fixed", "reason": reason}},
    )


def _judge(item: pytest.Item, rule: Rule, resource: str, ctx: AuditContext) -> tuple[Outcome, str, Any] | None:
    """Run ``rule`` again on ``resource`` as the new inventory holds it: (PASS, how, evidence after)
    or (FAIL, message, evidence); ``None`` when it cannot be run outside pytest's fixtures."""
    items = subjects_for(rule.scope, ctx, rule.select, rule.select_description)
    if any(isinstance(i, Unreadable) for i in items):
        return Outcome.FAIL, "the account could not be read again to confirm the fix", None
    subject = next((i for i in items if isinstance(i, Subject) and i.id == resource), None)
    if resource == NOT_ASSESSED:  # a fix gave the scope its subject (the execution role it created)
        subject = next((i for i in items if isinstance(i, Subject)), None)
        if subject is None:
            return Outcome.FAIL, "still not assessed after the changes", None
    if subject is None:
        return Outcome.PASS, f"{resource} no longer exists", "deleted"
    evidence = Evidence()
    function = getattr(item, "function", None)
    info = getattr(item, "_fixtureinfo", None)
    if function is None or info is None:
        return None
    names = info.argnames  # the function's fixtures as pytest resolved them
    if any(n in SCOPES and n != rule.scope for n in names):
        return None
    arguments = rule_arguments(names, ctx, lambda: evidence, lambda _scope: subject.value)
    if arguments is None:
        return None
    try:
        function(**arguments)
    except (AssertionError, pytest.fail.Exception) as exc:
        return Outcome.FAIL, failure_message(exc), evidence.items
    except pytest.skip.Exception as exc:
        return Outcome.PASS, f"no longer applicable ({exc.msg})", evidence.items
    return Outcome.PASS, f"{resource} now complies", evidence.items


def fix_lines(fix: FixOutcome, run: AuditRun) -> list[TerminalLine]:
    """The fix phase's part of the terminal summary: the dry run's numbered calls, or each
    action's status; what could not be fixed; the notes; where the plan is."""
    plan = fix.plan
    lines = []
    if fix.mode == "dry-run":
        lines.append(TerminalLine("fix plan (dry run: nothing was changed)", sep="-"))
        number = 0
        for action in plan.actions:
            lines.append(TerminalLine(f"{action.key}: {action.reason}"))
            for call in action.preview(fix.inventory):
                number += 1
                lines.append(TerminalLine(f"  {number:>3}. {call.describe()}"))
    else:
        lines.append(TerminalLine("fix", sep="-"))
        for action in plan.actions:
            result = fix.results.get(action.key)
            status = result.status if result else "not run"
            reason = f": {result.reason}" if result and result.reason else ""
            lines.append(TerminalLine(f"{status:<8} {action.key}{reason}"))
        failing = sum(1 for f in fix.findings if f.outcome is Outcome.FAIL)
        lines.append(
            TerminalLine(
                f"{len(fix.fixed)} finding(s) fixed, {failing} still failing; changes journaled in {fix.journal_path}"
            )
        )
    lines.extend(
        TerminalLine(f"not fixable: {rule_id} {resource}: {reason}", "yellow")
        for (rule_id, resource), reason in sorted(plan.not_fixable.items())
    )
    lines.extend(TerminalLine(f"note: {note}", "yellow") for note in fix.notes)
    lines.append(TerminalLine(f"plan written to {fix.plan_path}"))
    if fix.journal_path is not None and fix.results:
        if run.demo is not None:
            lines.append(
                TerminalLine("the demo account is created afresh each run: the next run starts from its footprint")
            )
        else:
            account = run.inventory.account_id
            lines.append(TerminalLine(f"to undo: ams-iam-audit undo {fix.journal_path} --aws-account {account}"))
    return lines
