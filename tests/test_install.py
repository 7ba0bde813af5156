"""A plain (non-editable) install finds its built-in rules from any directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_installed_package_audits_the_demo_from_any_directory(tmp_path: Path) -> None:
    # Build from a clean copy: an in-tree build would reuse (and leave behind) a stale build/ directory.
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache", "ams-iam-audit-*"
    )
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=ignore)
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    assert (target / "ams_iam_audit" / "rules" / "test_s3.py").is_file()
    assert (target / "ams_iam_audit" / "data" / "shared_roles.json").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--aws-account", "demo", "-p", "no:cacheprovider", "-q"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the demo holds findings
    findings = json.loads((elsewhere / "ams-iam-audit-report" / "findings.json").read_text())
    assert len({f["rule_id"] for f in findings["findings"]}) == 17
    # The rules that ran are the installed copy, not this checkout's.
    probe = subprocess.run(
        [sys.executable, "-c", "from ams_iam_audit.plugin import builtin_rules_dir; print(builtin_rules_dir())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()) == target / "ams_iam_audit" / "rules"
