"""Carrying out a plan: each action in order, through a journal, stopping nothing but what depends
on an action that did not complete."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from ..aws import error_code
from ..iam_utils import BucketOwnedElsewhereError, RetirementRefusedError
from ..iam_utils.changes import Call, UnsupportedCallError
from .consumers import RepointError
from .journal import Journal
from .plan import FixContext, Plan

__all__ = ["ActionResult", "apply_plan"]


@dataclass(frozen=True)
class ActionResult:
    status: str  # "done", "refused" (a precondition did not hold), "failed" (AWS said no), "skipped"
    reason: str | None = None
    calls: tuple[Call, ...] = ()


def _line(exc: BaseException) -> str:
    """The first line of an error, at most 300 characters: some endpoints answer with a whole page."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def apply_plan(plan: Plan, ctx: FixContext, journal: Journal) -> Mapping[str, ActionResult]:
    """Apply every action of ``plan`` whose prerequisites completed; returns a result per action key."""
    results: dict[str, ActionResult] = {}
    for action in plan.actions:
        blocked = next((r for r in action.requires if r in results and results[r].status != "done"), None)
        if blocked is not None:
            cause = results[blocked]  # name the first action that did not complete, not the chain
            reason = cause.reason if cause.status == "skipped" else f"{blocked} {cause.status}: {cause.reason}"
            results[action.key] = ActionResult("skipped", reason)
            continue
        with journal.acting_for(action.key):
            try:
                action.apply(ctx)
            except (RetirementRefusedError, RepointError, BucketOwnedElsewhereError, UnsupportedCallError) as exc:
                results[action.key] = ActionResult("refused", _line(exc), tuple(journal.calls_for(action.key)))
                continue
            except (ClientError, BotoCoreError, WaiterError) as exc:
                reason = f"{error_code(exc)}: {_line(exc)}"
                results[action.key] = ActionResult("failed", reason, tuple(journal.calls_for(action.key)))
                continue
            except Exception as exc:  # an endpoint's malformed answer, or our bug: the rest still runs
                reason = f"{type(exc).__name__}: {_line(exc)}"
                results[action.key] = ActionResult("failed", reason, tuple(journal.calls_for(action.key)))
                continue
        results[action.key] = ActionResult("done", None, tuple(journal.calls_for(action.key)))
    return results
