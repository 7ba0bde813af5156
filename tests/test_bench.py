"""The benchmark runs (on a tiny account): no timings are asserted here, only that every measurement
is taken and printed. The measurements themselves are in bench/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_the_benchmark_runs_on_a_tiny_account(tmp_path: Path) -> None:
    pytest.importorskip("cloudsplaining", reason="the bench extra: pip install -e '.[bench]'")
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--sizes", "tiny", "--runs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for line in (
        "GAAD download (floor)",
        "our full audit",
        "phase: evaluate",
        "cloudsplaining scan",
        "requests: per-resource (IAM)",
        "peak RSS, ours",
    ):
        assert line in proc.stdout, line
    (result,) = json.loads(out.read_text())
    assert result["created"]["roles"] == 30
    assert result["requests_ours"]["iam"] < result["requests_per_resource"]["iam"]
    assert result["findings"] > 0
