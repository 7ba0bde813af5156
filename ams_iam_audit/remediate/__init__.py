"""``--fix``: failing findings -> an ordered plan (``plan``) -> changes made through ``iam_utils`` and
the consumer APIs (``consumers``), each journaled before it is made (``journal``), undoable from
the journal (``journal.undo``)."""

from .apply import ActionResult, apply_plan
from .journal import Journal, JournalError, UndoReport, read_journal, undo
from .plan import FIXABLE_RULES, Action, FixContext, Plan, make_plan

__all__ = [
    "FIXABLE_RULES",
    "Action",
    "ActionResult",
    "FixContext",
    "Journal",
    "JournalError",
    "Plan",
    "UndoReport",
    "apply_plan",
    "make_plan",
    "read_journal",
    "undo",
]
