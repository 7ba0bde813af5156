"""A plain (non-editable) install finds its built-in rules from any directory."""

from __future__ import annotations

import json
import os
import re
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
    declared = set(
        re.findall(
            r'id="(AMS-[A-Z0-9]+-\d{3})"',
            "".join(p.read_text() for p in (target / "ams_iam_audit" / "rules").glob("test_*.py")),
        )
    )
    assert {f["rule_id"] for f in findings["findings"]} == declared  # every built-in rule ran
    # The rules that ran are the installed copy, not this checkout's.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ams_iam_audit.pytest_plugin.plugin import builtin_rules_dir; print(builtin_rules_dir())",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()) == target / "ams_iam_audit" / "rules"


def test_the_demo_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """A production install has no moto: ``--aws-account demo`` then names the extra, in one line,
    as a usage error, and reads nothing."""
    blocked = tmp_path / "blocked"
    (blocked / "moto").mkdir(parents=True)
    (blocked / "moto" / "__init__.py").write_text("raise ImportError('moto is not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--aws-account", "demo", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "demo extra" in line]
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert "pip install 'ams-iam-audit[demo]'" in lines[0]
    assert not (tmp_path / "ams-iam-audit-report" / "findings.json").exists()
