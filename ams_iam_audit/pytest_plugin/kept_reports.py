"""What pytest's terminal keeps of each rule case until the run ends, made smaller.

pytest's terminal reporter keeps every report it is given in ``stats`` and reads them once more at
the very end: to count outcomes, to print the FAILURES section and the short test summary (and, with
``-rp``/``-rP``/``-rA`` or ``--durations``, the passes too). At IAM's maximum quotas that is 60,000
reports alive to the end of the run, each with its keywords, properties and, for a failure, pytest's
tree of traceback objects. Everything else that reads a report (JUnit, ``--lf``, xdist, report logs)
reads it when it is logged, before any of this applies.

* :data:`PASS_COUNTED` stands for a passing case's report when nothing will show it: the terminal
  counts it as a pass and prints nothing of it (the plugin decides when, ``AuditPlugin._thin_passes``).
* :class:`CompactFailure` holds a rule failure's two terminal lines and its crash location, and
  prints them by building pytest's own objects again for the moment it prints: the same bytes, markup
  included, as the tree it replaces (``tests/test_kept_reports.py`` compares them). Only the one shape
  ``--tb=line`` (the plugin's default) gives a rule's failure is compacted; every other report is
  kept as pytest made it.

bench/README.md (round 4) measures what they save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

# pytest's own traceback objects (the same module since pytest 5; this project needs pytest 8)
from _pytest._code.code import ExceptionChainRepr, ReprEntry, ReprFileLocation, ReprTraceback, TerminalRepr

if TYPE_CHECKING:
    from _pytest._io import TerminalWriter

__all__ = ["PASS_COUNTED", "CompactFailure", "compact_failure", "line_failure_repr"]

#: One report, shared, that counts as a pass and names no case.
PASS_COUNTED = pytest.TestReport(
    nodeid="", location=("", None, ""), keywords={}, outcome="passed", longrepr=None, when="call"
)


class CompactFailure(TerminalRepr):
    """A ``--tb=line`` failure (``ExceptionChainRepr`` of one ``ReprTraceback`` of one ``ReprEntry``)
    as its lines and crash location: about a tenth of the objects. ``reprcrash`` is what the crash
    line and the short summary read; anything else is answered by the full tree, made again."""

    __slots__ = ("lines", "reprcrash")

    def __init__(self, lines: tuple[str, ...], reprcrash: ReprFileLocation) -> None:
        self.lines = lines
        self.reprcrash = reprcrash

    def full(self) -> ExceptionChainRepr:
        """The tree pytest made, made again."""
        return line_failure_repr(list(self.lines), self.reprcrash)

    def toterminal(self, tw: TerminalWriter) -> None:
        self.full().toterminal(tw)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in self.__slots__:  # a slot not set yet: never the full tree
            raise AttributeError(name)
        return getattr(self.full(), name)


def line_failure_repr(lines: list[str], crash: ReprFileLocation) -> ExceptionChainRepr:
    """pytest's representation of a failure at ``--tb=line`` with one traceback entry: the entry
    holding the exception's ``lines``, and the ``crash`` location. What ``compact_failure`` accepts,
    what ``CompactFailure`` prints through, and what the light protocol makes of a rule's own failure
    (``protocol._line_failure``)."""
    entry = ReprEntry(lines, None, None, None, "line")
    return ExceptionChainRepr([(ReprTraceback([entry], None, "line"), crash, None)])


def compact_failure(longrepr: object) -> CompactFailure | None:
    """``longrepr`` as a :class:`CompactFailure` when it has exactly the shape that prints only its
    lines (no description, extra line, sections, arguments, locals or entry location), else ``None``."""
    if type(longrepr) is not ExceptionChainRepr:
        return None
    if len(longrepr.chain) != 1 or longrepr.sections:
        return None
    traceback, crash, description = longrepr.chain[0]
    if description is not None or type(traceback) is not ReprTraceback or type(crash) is not ReprFileLocation:
        return None
    if traceback.extraline is not None or traceback.style != "line" or len(traceback.reprentries) != 1:
        return None
    entry = traceback.reprentries[0]
    if type(entry) is not ReprEntry or entry.style != "line":
        return None
    if entry.reprfuncargs is not None or entry.reprlocals is not None or entry.reprfileloc is not None:
        return None
    if longrepr.reprtraceback is not traceback or longrepr.reprcrash is not crash:
        return None
    return CompactFailure(tuple(entry.lines), crash)
