"""Recall and false positives of "who can become administrator", per escalation method, side by side
with peers on the same account.

    python bench/escalation_recall.py                      # ours, cloudsplaining and PMapper
    python bench/escalation_recall.py --tools ours         # ours only (the smoke test)

A moto server (in this process, 127.0.0.1, dummy credentials) is seeded with the catalogue account of
``tests/escalation_account.py``: for every method of ``data/escalation_methods.json`` one principal
with the least the method needs and an administrator target, and near misses (denied in a second
statement, aimed at a resource that is no target, narrowed by a condition, cut by a boundary). Then:

- ours: ``pytest -k AMS-PRIV-004`` in a subprocess; a principal is flagged when its finding fails;
- cloudsplaining 0.9.1: ``scan`` on the account's GetAccountAuthorizationDetails (PolicyName and
  PolicyId filled in: moto omits them); a principal is flagged when any policy it holds (inline,
  managed, or through a group) has a ``PrivilegeEscalation`` finding;
- PMapper 1.1.5 (Python <= 3.9): installed into a throwaway venv under a temporary directory, run
  against the moto server with ``--localstack-endpoint`` (every client PMapper makes goes to the
  local server), graph stored under a temporary ``PMAPPER_STORAGE``; a principal is flagged when
  PMapper marks it an administrator or its ``preset privesc`` search reaches one. moto omits fields
  PMapper reads (a managed policy's PolicyName and PolicyId in GAAD, a CodeBuild project's tags):
  they are filled in by a botocore ``after-call`` hook in the wrapper, and the output says so.

A method principal is "found" when flagged. A false positive is a flagged near miss that holds no
other catalogue method whole (``Expect.others`` empty); near misses that do are left out of the rate.
Prints a table per method and the totals; writes JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from run import ENV, gaad_download  # noqa: E402
from run import cloudsplaining as write_gaad  # noqa: E402

ACCOUNT = "123456789012"
TOOLS = ("ours", "cloudsplaining", "pmapper")
PMAPPER_PYTHON = "/root/.pyenv/versions/3.9.18/bin/python3.9"
PMAPPER_VERSION = "1.1.5"

Verdicts = dict[str, dict[str, Any]]  # principal label ("user/x", "role/y") -> {"flagged": bool, ...}


def ours(url: str, work: Path) -> Verdicts:
    report = Path(tempfile.mkdtemp(dir=work))
    command = [
        sys.executable, "-m", "pytest", "--aws-account", ACCOUNT, "--aws-endpoint-url", url, "-k", "AMS-PRIV-004",
        "--report-dir", str(report), "-q", "-p", "no:cacheprovider",
    ]  # fmt: skip
    # cwd: a directory of its own, so that the project's tests/conftest.py is not picked up
    proc = subprocess.run(command, cwd=work, env={**os.environ, **ENV}, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"audit failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    out: Verdicts = {}
    for f in json.loads((report / "findings.json").read_text())["findings"]:
        if f["rule_id"] != "AMS-PRIV-004":
            continue
        evidence = f.get("evidence") or {}
        named = [s.get("method") for s in evidence.get("path", [])] + [
            m.get("method") for m in evidence.get("latent", [])
        ]
        out[f["resource"]] = {
            "flagged": f["outcome"] == "fail",
            "outcome": f["outcome"],
            "severity": f["severity"],
            "methods": [m for m in named if m],
        }
    return out


def cloudsplaining(url: str, work: Path) -> tuple[Verdicts, str]:
    path, filled = write_gaad(gaad_download(url), work)
    out_dir = Path(tempfile.mkdtemp(dir=work))
    subprocess.run(
        [str(Path(sys.executable).parent / "cloudsplaining"), "scan", "-i", str(path), "-o", str(out_dir), "-s"],
        check=True, capture_output=True, cwd=work,
    )  # fmt: skip
    results = json.loads((out_dir / f"iam-results-{path.stem}.json").read_text())
    risky: dict[str, list[str]] = {}  # policy id -> the escalation combinations cloudsplaining names
    for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies"):
        for policy_id, policy in results.get(kind, {}).items():
            findings = (policy.get("PrivilegeEscalation") or {}).get("findings") or []
            if findings and not policy.get("is_excluded"):
                risky[policy_id] = [str(f.get("type", f)) if isinstance(f, dict) else str(f) for f in findings]

    def held(entry: dict[str, Any]) -> list[str]:
        return [
            policy_id
            for kind in ("customer_managed_policies", "aws_managed_policies", "inline_policies")
            for policy_id in entry.get(kind, {})
        ]

    out: Verdicts = {}
    for kind, label in (("users", "user"), ("roles", "role")):
        for entry in results.get(kind, {}).values():
            policies = held(entry) + [p for group in (entry.get("groups") or {}).values() for p in held(group)]
            types = sorted({t for p in policies for t in risky.get(p, [])})
            out[f"{label}/{entry['name']}"] = {"flagged": bool(types), "escalations": types}
    note = f"PolicyName and PolicyId filled in for {filled} managed policies (moto's GAAD omits them)"
    return out, note


#: Run by PMapper's Python: moto leaves out fields PMapper reads; fill them in as each response
#: arrives, then hand over to PMapper's own command line.
_PMAPPER_WRAPPER = textwrap.dedent(
    """
    import sys
    import botocore.session

    def _policies(parsed, **_):
        for p in parsed.get("Policies", []):
            name = p["Arn"].rsplit("/", 1)[-1]
            p.setdefault("PolicyName", name)
            p.setdefault("PolicyId", "ANPA" + name[:17].upper())

    def _projects(parsed, **_):
        for p in parsed.get("projects", []):
            p.setdefault("tags", [])

    _create = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = _create(self, *args, **kwargs)
        client.meta.events.register("after-call.iam.GetAccountAuthorizationDetails", _policies)
        client.meta.events.register("after-call.codebuild.BatchGetProjects", _projects)
        return client

    botocore.session.Session.create_client = create_client
    from principalmapper.__main__ import main
    sys.argv[0] = "pmapper"
    sys.exit(main())
    """
)

#: Run by PMapper's Python after ``graph create``: every principal, admin or not, and whether its
#: privesc search (PMapper's ``preset privesc``) reaches an administrator, with the edges.
_PMAPPER_QUERY = textwrap.dedent(
    """
    import json, sys
    from principalmapper.graphing.graph_actions import get_graph_from_disk
    from principalmapper.querying.presets.privesc import can_privesc

    graph = get_graph_from_disk(sys.argv[1])
    out = {}
    for node in graph.nodes:
        found, edges = (False, None) if node.is_admin else can_privesc(graph, node)
        out[node.searchable_name()] = {
            "admin": node.is_admin,
            "privesc": bool(found),
            "path": [e.describe_edge() for e in edges or []],
        }
    print(json.dumps(out))
    """
)


def pmapper(url: str, work: Path, python: str, venv: Path | None) -> tuple[Verdicts, str]:
    """PMapper against the moto server; raises RuntimeError saying why when it cannot run."""
    if venv is None:
        if not Path(python).exists():
            raise RuntimeError(f"PMapper needs Python <= 3.9 and {python} does not exist")
        venv = work / "pmapper-venv"
        subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"principalmapper=={PMAPPER_VERSION}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if pip.returncode:
            raise RuntimeError(f"pip install principalmapper=={PMAPPER_VERSION} failed:\n{pip.stderr[-2000:]}")
    vpython = str(venv / "bin" / "python")
    storage = work / "pmapper-storage"
    storage.mkdir(exist_ok=True)
    env = {**os.environ, **ENV, "PMAPPER_STORAGE": str(storage)}
    create = subprocess.run(
        [vpython, "-c", _PMAPPER_WRAPPER, "graph", "create", "--localstack-endpoint", url,
         "--include-regions", "us-east-1"],
        capture_output=True, text=True, env=env, check=False, cwd=work,
    )  # fmt: skip
    if create.returncode:
        raise RuntimeError(f"pmapper graph create failed:\n{create.stdout[-1500:]}\n{create.stderr[-2500:]}")
    query = subprocess.run(
        [vpython, "-c", _PMAPPER_QUERY, str(storage / ACCOUNT)],
        capture_output=True, text=True, env=env, check=False, cwd=work,
    )  # fmt: skip
    if query.returncode:
        raise RuntimeError(f"PMapper privesc query failed:\n{query.stderr[-2500:]}")
    out: Verdicts = {
        label: {**v, "flagged": v["admin"] or v["privesc"]} for label, v in json.loads(query.stdout).items()
    }
    summary = next((line.strip() for line in create.stdout.splitlines() if "# of Edges" in line), "")
    note = (
        f"PMapper {PMAPPER_VERSION} on {Path(python).name}, --localstack-endpoint {url}; "
        "moto omits GAAD PolicyName/PolicyId and CodeBuild project tags: filled in by a botocore hook"
        + (f"; graph: {summary}" if summary else "")
    )
    return out, note


def score(expected: dict[str, Any], verdicts: Verdicts) -> dict[str, Any]:
    """Per method: found or missed on its principal, and false positives among its clean near misses."""
    per: dict[str, dict[str, Any]] = {}
    for label, expect in expected.items():
        row = per.setdefault(expect.method, {"found": None, "fp": [], "clean": 0, "mixed": 0, "missing": []})
        verdict = verdicts.get(label)
        if verdict is None:
            row["missing"].append(label)  # the tool said nothing about this principal: not flagged
        flagged = bool(verdict and verdict["flagged"])
        if not expect.near_miss:
            row["found"] = flagged
        elif expect.others:
            row["mixed"] += 1
        else:
            row["clean"] += 1
            if flagged:
                row["fp"].append(label)
    by_kind: dict[str, list[int]] = {}  # near-miss kind (n-deny, n-aside, n-cond, n-bound) -> [flagged, clean]
    for label, expect in expected.items():
        if expect.near_miss and not expect.others:
            kind = label.split("/", 1)[1].split("-", 2)[1]
            counts = by_kind.setdefault(kind, [0, 0])
            counts[0] += bool(verdicts.get(label, {}).get("flagged"))
            counts[1] += 1
    found = sum(1 for r in per.values() if r["found"])
    clean = sum(r["clean"] for r in per.values())
    fps = sum(len(r["fp"]) for r in per.values())
    return {
        "methods": per,
        "recall": found / len(per),
        "found": found,
        "of": len(per),
        "false_positives": fps,
        "clean_near_misses": clean,
        "fp_rate": fps / clean if clean else 0.0,
        "missed": sorted(m for m, r in per.items() if not r["found"]),
        "fp_methods": sorted(m for m, r in per.items() if r["fp"]),
        "fp_by_near_miss": by_kind,
    }


def print_table(scores: dict[str, dict[str, Any]], errors: dict[str, str]) -> None:
    tools = list(scores)
    methods = sorted(next(iter(scores.values()))["methods"]) if scores else []
    width = max([len(m) for m in methods] + [6])
    head = f"{'method':<{width}}" + "".join(f"  {t:>22}" for t in tools)
    print(head)
    print(f"{'':<{width}}" + "".join(f"  {'principal / near-miss FP':>22}" for _ in tools))
    print("-" * len(head))
    for method in methods:
        cells = []
        for tool in tools:
            row = scores[tool]["methods"][method]
            cells.append(f"{'found' if row['found'] else 'MISSED':>6} / {len(row['fp'])} of {row['clean']} FP")
        print(f"{method:<{width}}" + "".join(f"  {c:>22}" for c in cells))
    print("-" * len(head))
    for tool in tools:
        s = scores[tool]
        print(
            f"{tool}: recall {s['found']}/{s['of']} = {s['recall']:.0%}; false positives "
            f"{s['false_positives']}/{s['clean_near_misses']} clean near misses = {s['fp_rate']:.0%}"
            + (f"; missed: {', '.join(s['missed'])}" if s["missed"] else "")
            + (f"; FP on: {', '.join(s['fp_methods'])}" if s["fp_methods"] else "")
        )
        kinds = ", ".join(f"{kind} {n}/{of}" for kind, (n, of) in sorted(s["fp_by_near_miss"].items()))
        print(f"  {tool} false positives by near miss (denied, aimed aside, condition, boundary): {kinds}")
    for tool, why in errors.items():
        print(f"{tool}: NOT RUN: {why}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of: {', '.join(TOOLS)}")
    parser.add_argument("--json", type=Path, help="write the verdicts and scores here")
    parser.add_argument("--pmapper-python", default=PMAPPER_PYTHON, help="a Python <= 3.9 for PMapper's venv")
    parser.add_argument(
        "--pmapper-venv",
        type=Path,
        help=f"reuse a venv that has principalmapper {PMAPPER_VERSION} (default: a new one)",
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    os.environ.update(ENV)
    from conftest import Account
    from escalation_account import LIVE_METHODS, seed_catalogue
    from moto.server import ThreadedMotoServer

    from ams_iam_audit.analysis import methods

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    verdicts: dict[str, Verdicts] = {}
    notes: dict[str, str] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    try:
        expected = seed_catalogue(Account(url))
        absent = sorted({m.id for m in methods()} - {m.id for m in LIVE_METHODS})
        print(
            f"catalogue account: {len(expected)} principals, {len(LIVE_METHODS)} methods "
            f"({sum(1 for e in expected.values() if e.near_miss)} near misses, "
            f"{sum(1 for e in expected.values() if e.near_miss and not e.others)} holding no other method)"
            + (f"; not in the live account (moto): {', '.join(absent)}" if absent else ""),
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="ams-recall-") as tmp:
            work = Path(tmp)
            for tool in tools:
                started = time.perf_counter()
                try:
                    if tool == "ours":
                        verdicts[tool] = ours(url, work)
                    elif tool == "cloudsplaining":
                        verdicts[tool], notes[tool] = cloudsplaining(url, work)
                    else:
                        verdicts[tool], notes[tool] = pmapper(url, work, args.pmapper_python, args.pmapper_venv)
                except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                    errors[tool] = str(exc).strip()
                seconds[tool] = time.perf_counter() - started
                print(f"  {tool}: {seconds[tool]:.1f} s", flush=True)
    finally:
        server.stop()
    scores = {tool: score(expected, verdicts[tool]) for tool in tools if tool in verdicts}
    print()
    print_table(scores, errors)
    for tool, note in notes.items():
        print(f"({tool}: {note})")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "expected": {
                        k: {"method": e.method, "near_miss": e.near_miss, "others": list(e.others)}
                        for k, e in expected.items()
                    },
                    "verdicts": verdicts,
                    "scores": scores,
                    "errors": errors,
                    "notes": notes,
                    "seconds": seconds,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
