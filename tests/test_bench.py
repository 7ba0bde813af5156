"""The benchmark runs (on a tiny account): no timings are asserted here, only that every measurement
is taken and printed. The measurements themselves are in bench/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
        "exit after the last report",
        "cloudsplaining scan",
        "requests: per-resource (IAM)",
        "peak RSS, ours",
        "| size | shape | ours | cloudsplaining |",
    ):
        assert line in proc.stdout, line
    results = json.loads(out.read_text())
    assert [r["shape"] for r in results] == ["simple", "varied"]  # both shapes, always
    for result in results:
        assert result["created"]["roles"] == 30
        assert result["requests_ours"]["iam"] < result["requests_per_resource"]["iam"]
        assert result["findings"] > 0
        assert all(0 <= s < result["ours_s"][0] for s in result["ours_exit_s"])
    assert "ours_n2_s" not in results[0]  # not at the tiny size


def test_the_varied_pool_is_a_few_hundred_distinct_documents() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from synthetic import varied_pool
    finally:
        sys.path.remove(str(BENCH))
    pool = varied_pool()
    assert 250 <= len(pool) == len(set(pool)) <= 400
    services = {s.split(":")[0] for doc in pool for st in _statements(doc) for s in _actions(st)}
    assert len(services) >= 20  # many services, not a handful of shapes
    assert any('"s3:*"' in doc for doc in pool)
    assert any("iam:PassRole" in doc for doc in pool)


def _statements(document: str) -> list[dict[str, Any]]:
    statements = json.loads(document)["Statement"]
    return [statements] if isinstance(statements, dict) else list(statements)


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)
