"""The account-scale benchmark: our audit against the data-transfer floor and a peer, side by side.

    python bench/run.py                 # default and maximum quotas, both shapes, 3 runs each (hours)
    python bench/run.py --sizes tiny --runs 1     # the smoke test's size
    python bench/run.py --sizes default --shapes varied --peer-runs 1 --xdist-runs 0 --requests 0
    python bench/run.py --sizes maximum --runs 1 --peer-runs 0 --xdist-runs 0 --requests 0 --baseline 8c42dc7

For each size and account shape (``--shapes``: ``simple``, one-service documents that differ in a
name; ``varied``, documents drawn from a pool of a few hundred distinct ones: see ``synthetic``) a moto
server (in this process) is seeded with ``synthetic.seed`` and, in one process tree, measured side by
side (medians of ``--runs``):

1. floor: downloading GetAccountAuthorizationDetails alone with boto3 (every page, our filters), in a
   process of its own (Python start and boto3 import included, as they are in the audit);
2. ours: ``pytest --aws-account … -q`` in a subprocess, reports written, with the phases the plugin
   times itself (collect, evaluate, report), its peak RSS (GNU time), and the exit: the time from the
   last line it prints (the closing line, written once every report is) to the process's end, read
   from its unbuffered output as it arrives;
3. cloudsplaining's ``scan`` on the same GAAD data, exported to a file (moto's GAAD omits a managed
   policy's PolicyName: it is filled in from the ARN, and the output says so);
4. HTTP requests: ours, counted by a loopback proxy, against a per-resource download (list, then
   per-role/user/policy calls) on the same account;
5. ``-n 2`` (pytest-xdist) against ``-n 0`` (``--xdist-runs``; not at the tiny size).

Prints a table of medians and ratios per size and shape, then one summary row each, and writes the
numbers as JSON (``--json``).

``--privilege-cost`` measures instead what the principal-level privilege analysis (AMS-PRIV-004 and
the escalation graph it shares with AMS-PRIV-002) costs, side by side in one process tree, runs
interleaved: the full audit; the same with ``-k "not AMS-PRIV-004 and not AMS-PRIV-002"`` (AMS-PRIV-002
is the per-policy view of the same catalogue); and, with ``--baseline REV``,
the audit of the commit before the analysis (its tree extracted with ``git archive`` into a temporary
directory and imported first through ``PYTHONPATH``; same interpreter and packages)::

    python bench/run.py --privilege-cost --sizes default --runs 3 --baseline af85e37
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from botocore.client import BaseClient


HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from aws_proxy import proxy_to  # noqa: E402
from synthetic import ACCOUNT, DEFAULT, MAXIMUM, SHAPES, TINY, Size, seed  # noqa: E402

from ams_iam_audit.inventory.collect import GAAD_FILTERS  # noqa: E402

SIZES = {"tiny": TINY, "default": DEFAULT, "maximum": MAXIMUM}
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


def median(values: list[float]) -> float:
    """The median; NaN for no values (a measurement that was not taken), never an exception."""
    return statistics.median(values) if values else float("nan")


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


_FLOOR = """
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1")
pages = list(iam.get_paginator("get_account_authorization_details").paginate(Filter=json.loads(sys.argv[2])))
keys = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
print(sum(len(p.get(k, [])) for p in pages for k in keys))
"""


def floor(url: str) -> int:
    """The bare floor, as a process of its own like the audit: start Python, import boto3, download
    GetAccountAuthorizationDetails (every page, the audit's filters)."""
    proc = subprocess.run(
        [sys.executable, "-c", _FLOOR, url, json.dumps(list(GAAD_FILTERS))],
        env={**os.environ, **ENV}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(proc.stdout)


def gaad_download(url: str) -> dict[str, list[Any]]:
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    merged: dict[str, list[Any]] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    pages: Iterable[Mapping[str, Any]] = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=list(GAAD_FILTERS)
    )
    for page in pages:
        for key in merged:
            merged[key].extend(page.get(key, []))
    return merged


def per_resource_download(url: str) -> int:
    """What a per-resource scanner does: list, then ask about each role, user and policy."""
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1")
    any_list: BaseClient = iam  # paged by operation name below

    def pages(op: str, key: str, **kw: Any) -> list[Any]:
        return [x for p in any_list.get_paginator(op).paginate(**kw) for x in p.get(key, [])]

    items = 0
    for role in pages("list_roles", "Roles"):
        name = role["RoleName"]
        iam.get_role(RoleName=name)
        pages("list_attached_role_policies", "AttachedPolicies", RoleName=name)
        for policy in pages("list_role_policies", "PolicyNames", RoleName=name):
            iam.get_role_policy(RoleName=name, PolicyName=policy)
        items += 1
    for user in pages("list_users", "Users"):
        name = user["UserName"]
        pages("list_attached_user_policies", "AttachedPolicies", UserName=name)
        for policy in pages("list_user_policies", "PolicyNames", UserName=name):
            iam.get_user_policy(UserName=name, PolicyName=policy)
        pages("list_groups_for_user", "Groups", UserName=name)
        pages("list_access_keys", "AccessKeyMetadata", UserName=name)
        items += 1
    for policy in pages("list_policies", "Policies", Scope="Local"):
        iam.get_policy(PolicyArn=policy["Arn"])
        iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        items += 1
    return items


def audit(url: str, workdir: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Our full audit in a subprocess (under GNU time for its peak RSS)."""
    report = Path(tempfile.mkdtemp(dir=workdir))
    command = [
        "/usr/bin/time", "-f", "maxrss_kb=%M",
        sys.executable, "-m", "pytest", "--aws-account", ACCOUNT, "--aws-endpoint-url", url,
        "-q", "-p", "no:cacheprovider", "--report-dir", str(report), *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=workdir, env={**os.environ, **ENV, **(env or {}), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stderr: list[str] = []
    drain = threading.Thread(target=lambda: stderr.extend(proc.stderr or ()), daemon=True)
    drain.start()
    stdout, last_line = [], started
    for line in proc.stdout or ():
        stdout.append(line)
        last_line = time.perf_counter()
    returncode = proc.wait()
    ended = time.perf_counter()
    drain.join()
    out, err = "".join(stdout), "".join(stderr)
    if returncode not in (0, 1):
        raise RuntimeError(f"audit failed ({returncode}):\n{out[-3000:]}\n{err[-3000:]}")
    phases = dict(
        re.findall(r"(\w+) ([0-9.]+) s", next(line for line in out.splitlines() if line.startswith("timings:")))
    )
    findings = json.loads((report / "findings.json").read_text())["findings"]
    return {
        "wall": ended - started,
        # from the closing line (the plugin's last output, after every report) to the process's end
        "exit_s": ended - last_line,
        "phases": {k: float(v) for k, v in phases.items()},
        "rss_mb": int(re.search(r"maxrss_kb=(\d+)", err).group(1)) / 1024,  # type: ignore[union-attr]
        "findings": len(findings),
        "outcomes": dict(Counter(f["outcome"] for f in findings)),
    }


def cloudsplaining(gaad: dict[str, list[Any]], workdir: Path) -> tuple[Path, int]:
    """Write the GAAD data for cloudsplaining; moto omits each managed policy's PolicyName and
    PolicyId (AWS sends both), so the name is filled in from the ARN and the id made from a digest of
    it. Returns the file and how many policies were filled in."""
    import hashlib

    filled = 0
    for policy in gaad["Policies"]:
        if not policy.get("PolicyName") or not policy.get("PolicyId"):
            policy.setdefault("PolicyName", policy["Arn"].rsplit("/", 1)[-1])
            policy.setdefault("PolicyId", "ANPA" + hashlib.sha256(policy["Arn"].encode()).hexdigest()[:17].upper())
            filled += 1
    path = workdir / "gaad.json"
    path.write_text(json.dumps(gaad, default=str))
    return path, filled


def run_cloudsplaining(path: Path, workdir: Path) -> None:
    out = Path(tempfile.mkdtemp(dir=workdir))
    subprocess.run(
        [str(Path(sys.executable).parent / "cloudsplaining"), "scan", "-i", str(path), "-o", str(out), "-s"],
        check=True, capture_output=True, cwd=workdir,
    )  # fmt: skip


def count_requests(url: str, fn: Callable[[str], Any]) -> Counter[str]:
    with proxy_to(url) as proxy:
        fn(proxy.url)
    return Counter(r.service or "unsigned" for r in proxy.requests)


def reset(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30):
        pass


def say(what: str, seconds: list[float] | float) -> None:
    values = seconds if isinstance(seconds, list) else [seconds]
    print(f"  {what}: " + ", ".join(f"{s:.2f} s" for s in values), flush=True)


def bench_size(
    url: str,
    size: Size,
    runs: int,
    workdir: Path,
    peer_runs: int,
    xdist_runs: int,
    requests: bool = True,
    baseline: tuple[str, Path] | None = None,
) -> dict[str, Any]:
    """One size and shape, measured side by side. ``baseline``: a revision and its extracted tree
    (:func:`baseline_tree`), whose audit runs interleaved with ours."""
    reset(url)
    started = time.perf_counter()
    created = seed(url, size)
    seeded = time.perf_counter() - started
    print(f"\n## {size.name}, {size.shape} documents: {created} (seeded in {seeded:.1f} s)", flush=True)
    floor_s, _ = timed(lambda: floor(url), runs)
    say("floor", floor_s)
    gaad = gaad_download(url)
    ours, before = [], []
    env = (
        {"PYTHONPATH": os.pathsep.join(filter(None, [str(baseline[1]), os.environ.get("PYTHONPATH")]))}
        if baseline
        else {}
    )
    for _ in range(runs):
        ours.append(audit(url, workdir))
        say(f"ours ({ours[-1]['rss_mb']:.0f} MB, exit {ours[-1]['exit_s']:.2f} s)", ours[-1]["wall"])
        if baseline:
            before.append(audit(url, workdir, env=env))
            say(f"{baseline[0]} ({before[-1]['rss_mb']:.0f} MB, exit {before[-1]['exit_s']:.2f} s)", before[-1]["wall"])
    path, filled = cloudsplaining(gaad, workdir)
    peer: list[float] = []
    if peer_runs:
        peer, _ = timed(lambda: run_cloudsplaining(path, workdir), peer_runs)
        say("cloudsplaining", peer)
    ours_requests: Counter[str] = Counter()
    per_resource: Counter[str] = Counter()
    per_resource_time: list[float] = []
    if requests:
        ours_requests = count_requests(url, lambda u: audit(u, workdir))
        started = time.perf_counter()
        per_resource = count_requests(url, per_resource_download)
        per_resource_time = [time.perf_counter() - started]  # through the counting proxy: a little slower
        say("per-resource download (through the counting proxy)", per_resource_time)
    result: dict[str, Any] = {
        "size": size.name,
        "shape": size.shape,
        "created": created,
        "floor_s": floor_s,
        "ours_s": [o["wall"] for o in ours],
        "ours_exit_s": [o["exit_s"] for o in ours],
        "ours_phases": {p: median([o["phases"].get(p, 0.0) for o in ours]) for p in ours[0]["phases"]},
        "ours_rss_mb": max(o["rss_mb"] for o in ours),
        "findings": ours[0]["findings"],
        "outcomes": ours[0]["outcomes"],
        "cloudsplaining_s": peer,
        "policy_names_filled": filled,
        "requests_ours": dict(ours_requests),
        "requests_per_resource": dict(per_resource),
        "per_resource_s": per_resource_time,
    }
    if baseline:
        result["baseline"] = {
            "rev": baseline[0],
            "wall_s": [b["wall"] for b in before],
            "exit_s": [b["exit_s"] for b in before],
            "phases": {p: median([b["phases"].get(p, 0.0) for b in before]) for p in before[0]["phases"]},
            "rss_mb": max(b["rss_mb"] for b in before),
        }
    if xdist_runs > 0:
        result["ours_n2_s"] = [audit(url, workdir, "-n", "2")["wall"] for _ in range(xdist_runs)]
        say("ours -n 2", result["ours_n2_s"])
    report_size(result)
    return result


def report_size(r: dict[str, Any]) -> None:
    floor, ours = median(r["floor_s"]), median(r["ours_s"])
    peer = median(r["cloudsplaining_s"]) if r["cloudsplaining_s"] else float("nan")
    iam_ours = r["requests_ours"].get("iam", 0)
    iam_per = r["requests_per_resource"].get("iam", 0)
    rows = [
        ("GAAD download (floor)", f"{floor:.2f} s", "1.00"),
        ("our full audit", f"{ours:.2f} s", f"{ours / floor:.2f} x floor"),
        *[(f"  phase: {p}", f"{s:.2f} s", "") for p, s in r["ours_phases"].items()],
        ("  exit after the last report", f"{median(r['ours_exit_s']):.2f} s", ""),
        *(
            [("cloudsplaining scan", f"{peer:.2f} s", f"ours = {ours / peer:.2f} x cloudsplaining")]
            if r["cloudsplaining_s"]
            else []
        ),
        *(
            [
                (
                    "requests: ours (all services)",
                    str(sum(r["requests_ours"].values())),
                    json.dumps(r["requests_ours"]),
                ),
                (
                    "requests: per-resource (IAM)",
                    str(iam_per),
                    f"{iam_per / max(iam_ours, 1):.0f} x our IAM requests ({iam_ours})",
                ),
                ("per-resource download", f"{r['per_resource_s'][0]:.2f} s", ""),
            ]
            if r["per_resource_s"]
            else []
        ),
        ("peak RSS, ours", f"{r['ours_rss_mb']:.0f} MB", ""),
        ("findings", str(r["findings"]), json.dumps(r["outcomes"])),
    ]
    if r.get("baseline"):
        b = r["baseline"]
        wall = median(b["wall_s"])
        rows.append((f"audit of {b['rev']}", f"{wall:.2f} s", f"ours = {ours / wall:.2f} x it"))
        rows += [(f"  phase: {p}", f"{s:.2f} s", "") for p, s in b["phases"].items()]
        rows.append(("  exit after the last report", f"{median(b['exit_s']):.2f} s", ""))
        rows.append(("  peak RSS", f"{b['rss_mb']:.0f} MB", ""))
    if r.get("ours_n2_s"):
        n2 = median(r["ours_n2_s"])
        rows.append(("our audit, -n 2", f"{n2:.2f} s", f"{n2 / ours:.2f} x -n 0"))
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>10}  {c}")
    if r["policy_names_filled"]:
        print(
            f"(cloudsplaining input: PolicyName and PolicyId filled in for {r['policy_names_filled']} managed "
            "policies: moto's GAAD omits them)"
        )


def summary_table(results: list[dict[str, Any]]) -> None:
    """One row per size and shape: the medians and the ratios the targets are stated in."""
    head = ["size", "shape", "ours", "cloudsplaining", "GAAD floor", "ours/cloudsplaining", "ours/floor",
            "peak RSS", "exit after last report", "-n 2/-n 0"]  # fmt: skip
    print("\n| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
    for r in results:
        ours, peer, floor = median(r["ours_s"]), median(r["cloudsplaining_s"]), median(r["floor_s"])
        n2 = median(r.get("ours_n2_s") or [])
        cells = [
            r["size"], r["shape"], f"{ours:.2f} s", f"{peer:.2f} s" if r["cloudsplaining_s"] else "not run",
            f"{floor:.2f} s", f"{ours / peer:.2f}" if r["cloudsplaining_s"] else "", f"{ours / floor:.2f}",
            f"{r['ours_rss_mb']:.0f} MB", f"{median(r['ours_exit_s']):.2f} s",
            f"{n2 / ours:.2f}" if r.get("ours_n2_s") else "not run",
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def baseline_tree(rev: str, workdir: Path) -> Path:
    """The package at ``rev``, extracted into ``workdir`` to be imported first through PYTHONPATH.
    rules/ and reports/ sit at the top of the repository and are mapped into the package by the
    editable install: links put them where a plain import finds them."""
    tree = workdir / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", rev, "ams_iam_audit", "rules", "reports"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    for sub in ("rules", "reports"):
        (tree / "ams_iam_audit" / sub).symlink_to(tree / sub, target_is_directory=True)
    return tree


def privilege_cost(url: str, size: Size, runs: int, workdir: Path, baseline: str | None) -> dict[str, Any]:
    """The audit with and without the principal-level privilege analysis, runs interleaved."""
    reset(url)
    started = time.perf_counter()
    created = seed(url, size)
    print(f"\n## {size.name}: {created} (seeded in {time.perf_counter() - started:.1f} s)", flush=True)
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "full audit": lambda: audit(url, workdir),
        # AMS-PRIV-002 is the per-policy view of the same catalogue (-k "not AMS-PRIV-004" alone was
        # dropped on 2026-12-02: a fourth variant made three runs at the maximum too long to share)
        "without AMS-PRIV-004 and -002": lambda: audit(url, workdir, "-k", "not AMS-PRIV-004 and not AMS-PRIV-002"),
    }
    if baseline:
        tree = baseline_tree(baseline, workdir)
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))}
        variants[f"before the analysis ({baseline})"] = lambda: audit(url, workdir, env=env)
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, run in variants.items():
            measured[name].append(run())
            say(f"{name} ({measured[name][-1]['rss_mb']:.0f} MB)", measured[name][-1]["wall"])
    result: dict[str, Any] = {"size": size.name, "created": created, "variants": {}}
    for name, rows in measured.items():
        result["variants"][name] = {
            "wall_s": [r["wall"] for r in rows],
            "rss_mb": [r["rss_mb"] for r in rows],
            "phases": {p: median([r["phases"].get(p, 0.0) for r in rows]) for p in rows[0]["phases"]},
            "findings": rows[0]["findings"],
            "outcomes": rows[0]["outcomes"],
        }
    report_privilege_cost(result)
    return result


def report_privilege_cost(r: dict[str, Any]) -> None:
    variants = r["variants"]
    full = variants["full audit"]
    full_wall, full_rss = median(full["wall_s"]), median(full["rss_mb"])
    phases = list(full["phases"])
    head = ["variant", "wall (median)", "peak RSS (median, max)", *phases, "findings", "full audit against it"]
    print(" | ".join(head))
    for name, v in variants.items():
        wall, rss = median(v["wall_s"]), median(v["rss_mb"])
        against = (
            ""
            if v is full
            else f"{(full_wall / wall - 1) * 100:+.1f}% wall, {full_rss - rss:+.0f} MB RSS (median), "
            f"{max(full['rss_mb']) - max(v['rss_mb']):+.0f} MB (max)"
        )
        cells = [
            name,
            f"{wall:.2f} s",
            f"{rss:.0f} MB, {max(v['rss_mb']):.0f} MB",
            *[f"{v['phases'].get(p, 0.0):.2f} s" for p in phases],
            str(v["findings"]),
            against,
        ]
        print(" | ".join(cells))
    print("(targets: the analysis adds at most 20% wall time and at most 200 MB peak RSS)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="default,maximum", help="comma-separated: tiny, default, maximum")
    parser.add_argument(
        "--shapes", default=",".join(SHAPES), help=f"comma-separated account shapes, each measured: {', '.join(SHAPES)}"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--peer-runs",
        default=None,
        help="cloudsplaining runs (default --runs; 0: skip); comma-separated: per size, the last one repeats",
    )
    parser.add_argument(
        "--xdist-runs",
        type=int,
        default=None,
        help="-n 2 runs per size and shape, not at tiny (default --runs; 0: skip)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=1,
        help="1: count HTTP requests (one more audit, through a proxy) and time the per-resource download "
        "(minutes at maximum); 0: not",
    )
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument(
        "--privilege-cost",
        action="store_true",
        help="only the audit with and without the principal-level privilege analysis (AMS-PRIV-004), side by side",
    )
    parser.add_argument(
        "--baseline",
        help="also the audit of this git revision, runs interleaved with ours "
        "(with --privilege-cost: the commit before the analysis)",
    )
    args = parser.parse_args()
    os.environ.update(ENV)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    from ams_iam_audit.demo import emulate_access_analyzer

    emulate_access_analyzer(server)  # moto 5 lacks Access Analyzer (AMS-ACCT-003 reads it)
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    names = [n.strip() for n in args.sizes.split(",") if n.strip()]
    shapes = [n.strip() for n in args.shapes.split(",") if n.strip()]
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        parser.error(f"--shapes: unknown {', '.join(unknown)} (known: {', '.join(SHAPES)})")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="ams-bench-") as work:
            peer_runs = [int(n) for n in (args.peer_runs or str(args.runs)).split(",")]
            xdist_runs = args.runs if args.xdist_runs is None else args.xdist_runs
            baseline = (
                (args.baseline, baseline_tree(args.baseline, Path(work)))
                if args.baseline and not args.privilege_cost
                else None
            )
            for index, name in enumerate(names):
                if args.privilege_cost:
                    results.append(privilege_cost(url, SIZES[name], args.runs, Path(work), args.baseline))
                    continue
                for shape in shapes:
                    results.append(
                        bench_size(
                            url,
                            dataclasses.replace(SIZES[name], shape=shape),
                            args.runs,
                            Path(work),
                            peer_runs=peer_runs[min(index, len(peer_runs) - 1)],
                            xdist_runs=0 if name == "tiny" else xdist_runs,
                            requests=bool(args.requests),
                            baseline=baseline,
                        )
                    )
    finally:
        server.stop()
    if not args.privilege_cost:
        summary_table(results)
    if len(names) >= 2 and not args.privilege_cost:
        small, large = results[0], results[-len(shapes)]  # the first shape at the smallest and largest size
        size_ratio = (large["created"]["roles"] + large["created"]["users"] + large["created"]["policies"]) / (
            small["created"]["roles"] + small["created"]["users"] + small["created"]["policies"]
        )
        cost_ratio = median(large["ours_s"]) / median(small["ours_s"])
        print(
            f"\ngrowth: {cost_ratio:.2f} x the time for {size_ratio:.2f} x the resources "
            f"({cost_ratio / size_ratio:.2f} x linear)"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
