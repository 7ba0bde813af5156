"""Which rules ``--fix`` handles is a set of rule ids (``remediate.plan.FIXABLE_RULES``): every id in
it must be a built-in rule, and the planner must act on it, so renaming a rule cannot silently turn
its fix off."""

from __future__ import annotations

import re
from pathlib import Path

from ams_iam_audit.plugin import builtin_rules_dir
from ams_iam_audit.remediate import plan
from ams_iam_audit.remediate.plan import FIXABLE_RULES

_DECLARED = re.compile(r'\bid="(AMS-[A-Z0-9]+-\d{3})"')


def _builtin_rule_ids() -> set[str]:
    return {i for path in builtin_rules_dir().glob("test_*.py") for i in _DECLARED.findall(path.read_text())}


def test_every_fixable_rule_is_a_builtin_rule() -> None:
    builtin = _builtin_rule_ids()
    assert len(builtin) >= 20
    assert set(FIXABLE_RULES) - builtin == set()


def test_the_planner_acts_on_every_fixable_rule() -> None:
    """Each id is used by the planner beyond the set that lists it."""
    source = Path(plan.__file__).read_text()
    listing = source.index("FIXABLE_RULES = frozenset(")
    body = source[:listing] + source[source.index(")\n", listing) :]
    unused = sorted(rule for rule in FIXABLE_RULES if f'"{rule}"' not in body)
    assert not unused, f"listed as fixable but never planned: {unused}"
