"""What pytest itself costs per parametrized case, measured apart from the audit.

    python bench/pytest_overhead.py [CASES]

Runs a test module with CASES (default 18,524: the default-quota account's case count) trivially
passing parametrized cases, each with one function-scoped fixture like a rule's ``evidence``, under
the same pytest as the audit (cache and log capture off, as in audit mode), three times each way:
collection only (``--collect-only``: what making a case costs), and a full run (collection plus
pytest's setup/call/teardown protocol). It prints the medians and the cost per case of each. The
audit skips most of the protocol for rule cases (``ams_iam_audit.pytest_plugin.protocol``) but not collection, nor
the report hooks every case goes through.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE = """
import pytest

@pytest.fixture
def evidence():
    return {{}}

@pytest.mark.parametrize("subject", [f"role/r{{i}}" for i in range({cases})])
def test_case(subject, evidence):
    assert subject
"""


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 18_524
    folder = Path(tempfile.mkdtemp(prefix="ams-pytest-overhead-"))
    (folder / "test_cases.py").write_text(MODULE.format(cases=cases))
    for what, extra in (("collect only", ["--collect-only"]), ("collect and run", [])):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
                 "-p", "no:ams_iam_audit", *extra],
                cwd=folder, check=True, capture_output=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(
            f"{cases} cases, {what}: median {median:.2f} s ({', '.join(f'{t:.2f}' for t in times)}), "
            f"{median / cases * 1000:.2f} ms per case",
            flush=True,
        )


if __name__ == "__main__":
    main()
