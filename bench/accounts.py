"""Many accounts in one pytest run: wall time for 1, 3 and 5 accounts, each seeded with the demo's
footprint, ``-n 0`` against ``-n 2``, and the cost per account (bench/README.md, "Many accounts").

One moto server in this process holds every account. The first is moto's default account (the
caller's own, read with the caller's session); the others are reached as the audit reaches them, by
AssumeRole into ``arn:aws:iam::<id>:role/OrganizationAccountAccessRole``, and seeded through that same
assumed session with ``demo.seed``. Each audit is ``python -m pytest --aws-account … -q`` in a
subprocess over HTTP with every report written, timed from start to exit; medians of ``--runs``.
One account is a plain one-account run (where ``-n 2`` is set aside: the run says so).

    python bench/accounts.py                      # 1, 3, 5 accounts; -n 0 and -n 2; 3 runs each
    python bench/accounts.py --sizes 1,3 --runs 1 --workers 0
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from ams_iam_audit import demo
from ams_iam_audit.aws import assume_with
from ams_iam_audit.demo import emulate_access_analyzer, seed

CALLER_ACCOUNT = "123456789012"  # moto's default account: the caller's own
ROLE = "OrganizationAccountAccessRole"
_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/ams-iam-audit-bench",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ams-iam-audit-bench",
}


def account_ids(count: int) -> list[str]:
    """The caller's own account, then members 100000000001, 100000000002, …"""
    return [CALLER_ACCOUNT, *(f"1000000000{n:02d}" for n in range(1, count))]


def session_in(url: str, account_id: str) -> boto3.Session:
    """A session acting in ``account_id``: the caller's own, or assumed as the audit assumes it."""
    if account_id == CALLER_ACCOUNT:
        return boto3.Session(region_name="us-east-1")
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    return assume_with(sts, f"arn:aws:iam::{account_id}:role/{ROLE}", "bench-seed", "us-east-1")


def seed_account(url: str, account_id: str) -> None:
    """The demo's footprint in ``account_id``. S3 bucket names are one namespace across accounts, and
    the demo names its buckets (and the ARNs in its policies) after its own account: those module
    names are pointed at ``account_id`` while it seeds, then put back."""
    names = ("_A", "USER_BUCKET", "TRAIL_BUCKET")
    saved = {name: getattr(demo, name) for name in names}
    try:
        demo._A = account_id
        demo.USER_BUCKET = saved["USER_BUCKET"].replace(saved["_A"], account_id)
        demo.TRAIL_BUCKET = saved["TRAIL_BUCKET"].replace(saved["_A"], account_id)
        seed(session_in(url, account_id), url)
    finally:
        for name, value in saved.items():
            setattr(demo, name, value)


def audit(url: str, accounts: list[str], workers: int, report_dir: Path) -> tuple[float, int, str]:
    """One audit of ``accounts`` in a subprocess: (wall seconds, exit status, its last lines)."""
    args = [arg for account in accounts for arg in ("--aws-account", account)]
    command = [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "--aws-endpoint-url",
        url,
        "--report-dir",
        str(report_dir),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-n",
        str(workers),
    ]
    started = time.perf_counter()
    # from a directory of its own, as a user runs it: not this checkout, whose tests/conftest.py has
    # fixtures of the same names as the plugin's
    proc = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **_ENV}, check=False, cwd=report_dir.parent
    )
    wall = time.perf_counter() - started
    return wall, proc.returncode, "\n".join(proc.stdout.splitlines()[-3:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,3,5", help="numbers of accounts (default 1,3,5)")
    parser.add_argument("--workers", default="0,2", help="-n values (default 0,2)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, the median reported (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    sizes = [int(s) for s in options.sizes.split(",")]
    workers = [int(w) for w in options.workers.split(",")]
    os.environ.update(_ENV)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    emulate_access_analyzer(server, CALLER_ACCOUNT)
    for account in account_ids(max(sizes)):
        seed_account(url, account)
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ams-iam-audit-bench-") as tmp:
            for size in sizes:
                for n in workers:
                    walls = []
                    for run in range(options.runs):
                        wall, status, tail = audit(url, account_ids(size), n, Path(tmp) / f"r-{size}-{n}-{run}")
                        if status not in (0, 1):
                            print(f"{size} accounts, -n {n}: exit {status}\n{tail}", file=sys.stderr)
                            return 2
                        walls.append(wall)
                    median = statistics.median(walls)
                    results.append(
                        {
                            "accounts": size,
                            "n": n,
                            "median_s": round(median, 2),
                            "per_account_s": round(median / size, 2),
                            "runs_s": [round(w, 2) for w in walls],
                        }
                    )
                    print(
                        f"{size} account(s)  -n {n}:  median {median:6.2f} s  per account {median / size:5.2f} s  "
                        f"(runs {', '.join(f'{w:.2f}' for w in walls)})",
                        flush=True,
                    )
    finally:
        server.stop()
    if options.json:
        options.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
