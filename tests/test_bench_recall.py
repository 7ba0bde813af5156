"""The recall benchmark runs (ours only: the peers need cloudsplaining and a Python 3.9 for PMapper).
Nothing is asserted about the numbers here; they are in bench/README.md, and tests/test_escalation.py
is what holds AMS-PRIV-004 to the catalogue account."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from escalation_account import LIVE_METHODS

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_recall_benchmark_runs_for_our_audit(tmp_path: Path) -> None:
    out = tmp_path / "recall.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "escalation_recall.py"), "--tools", "ours", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "principal / near-miss FP" in proc.stdout
    for method in LIVE_METHODS:
        assert method.id in proc.stdout, method.id
    recall = re.search(r"^ours: recall \d+/(\d+) = \d+%; false positives \d+/\d+", proc.stdout, re.M)
    assert recall, proc.stdout[-2000:]
    assert int(recall.group(1)) == len(LIVE_METHODS)
    result = json.loads(out.read_text())
    scores = result["scores"]["ours"]
    assert scores["of"] == len(LIVE_METHODS)
    assert 0.0 <= scores["recall"] <= 1.0
    assert 0.0 <= scores["fp_rate"] <= 1.0
    assert set(result["scores"]) == {"ours"}
    assert not result["errors"]
