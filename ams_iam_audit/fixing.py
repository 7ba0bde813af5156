"""The ``--fix`` / ``--fix-dry-run`` phase of an audit session, after every rule has run.

1. The failing findings become a plan (``remediate.make_plan``), written to ``fix-plan.json``.
2. Dry run: each failing finding gets the planned calls (or why there are none) in its evidence,
   and nothing is changed. Fix: the plan is applied through a journal, the account is read again,
   and every finding that failed is judged again by its own rule on the new inventory. One that now
   passes (or whose resource is gone) becomes **fixed**, with the evidence from before and after
   and the changes that were made; one that still fails says why.

Only the controller process fixes: ``--fix`` refuses xdist, so the changes are made in one order,
by one journal.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .demo import UNSUPPORTED_CALLS
from .findings import Evidence, Finding, Outcome, failure_message
from .inventory.model import Inventory
from .jsonio import write_json_atomic
from .options import AuditOptions
from .remediate import ActionResult, FixContext, Journal, Plan, apply_plan, make_plan
from .rule import Rule, get_rule
from .run import AuditRun
from .scopes import AuditContext, Subject, Unreadable, subjects_for

__all__ = ["FixOutcome", "run_fix_phase"]


@dataclass
class FixOutcome:
    mode: str  # "apply" or "dry-run"
    inventory: Inventory  # what the plan was made from
    plan: Plan
    plan_path: Path
    findings: list[Finding]
    journal_path: Path | None = None
    results: dict[str, ActionResult] = field(default_factory=dict)

    @property
    def fixed(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome is Outcome.FIXED]


def run_fix_phase(
    options: AuditOptions, run: AuditRun, findings: list[Finding], items: list[pytest.Item]
) -> FixOutcome:
    assert options.fix is not None
    ctx = AuditContext(inventory=run.inventory)
    plan = make_plan(findings, ctx, unowned=options.fix_unowned)
    plan_path = options.report_dir / "fix-plan.json"
    write_json_atomic(plan_path, {**plan.to_json(run.inventory), "mode": options.fix})
    if options.fix == "dry-run":
        return FixOutcome("dry-run", run.inventory, plan, plan_path, [_planned(f, plan, run) for f in findings])
    if run.clients is None or run.recollect is None:
        raise pytest.UsageError("--fix needs a live account")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    journal_path = options.fix_journal or options.report_dir / f"fix-journal-{stamp}.jsonl"
    unsupported = UNSUPPORTED_CALLS if run.demo is not None else frozenset()
    with Journal(journal_path, run.inventory.account_id, run.inventory.caller_arn, unsupported=unsupported) as journal:
        results = dict(apply_plan(plan, FixContext(run.clients, journal, run.inventory), journal))
    after = AuditContext(inventory=run.recollect())
    by_nodeid = {item.nodeid: item for item in items}
    judged = [
        _rejudged(f, plan, results, by_nodeid.get(f.nodeid), after, journal_path) if f.outcome is Outcome.FAIL else f
        for f in findings
    ]
    return FixOutcome("apply", run.inventory, plan, plan_path, judged, journal_path, results)


def _planned(finding: Finding, plan: Plan, run: AuditRun) -> Finding:
    if finding.outcome is not Outcome.FAIL:
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
    if subject is None:
        return Outcome.PASS, f"{resource} no longer exists", "deleted"
    evidence = Evidence()
    fixtures = {rule.scope: subject.value, "evidence": evidence, "inventory": ctx.inventory, "audit": ctx}
    function = getattr(item, "function", None)
    if function is None:
        return None
    names = list(inspect.signature(function).parameters)
    if any(n not in fixtures for n in names):
        return None
    try:
        function(**{n: fixtures[n] for n in names})
    except (AssertionError, pytest.fail.Exception) as exc:
        return Outcome.FAIL, failure_message(exc), evidence.items
    except pytest.skip.Exception as exc:
        return Outcome.PASS, f"no longer applicable ({exc.msg})", evidence.items
    return Outcome.PASS, f"{resource} now complies", evidence.items
