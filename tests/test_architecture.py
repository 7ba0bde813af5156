"""ARCHITECTURE.md's room table is kept to what the code is: every module of the package has a room,
and every import of the package goes to a room its row allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ams_iam_audit"
_ROW = re.compile(r"^\| (?P<room>[a-z]+) \| (?P<modules>[^|]+) \| [^|]+ \| (?P<imports>[^|]+) \|$")


def rooms() -> tuple[dict[str, str], dict[str, set[str]]]:
    """From ARCHITECTURE.md: top-level name (``plugin``, ``inventory``) -> room, room -> allowed rooms."""
    room_of: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match is None or match["room"] == "room":
            continue
        room = match["room"]
        for module in re.findall(r"`([^`]+)`", match["modules"]):
            room_of[module.removesuffix(".py").removesuffix("/")] = room
        imports = match["imports"].strip()
        allowed[room] = set() if imports == "—" else {r.strip() for r in imports.split(",")}
    return room_of, allowed


def imports_of(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """The top-level names of the package ``path`` imports (``inventory`` for ``..inventory.model``)."""
    package = path.relative_to(package_dir).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "ams_iam_audit":
                target = node.module.split(".")[1:]
            else:
                continue
            found.update([target[0]] if target else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("ams_iam_audit."))
    return found


def top_level(path: Path, package_dir: Path = PACKAGE) -> str:
    """The room key of a module: its top-level name (``inventory`` for ``inventory/collect.py``)."""
    return path.relative_to(package_dir).parts[0].removesuffix(".py")


def test_every_module_has_a_room() -> None:
    room_of, allowed = rooms()
    assert set(room_of.values()) == set(allowed)
    missing = sorted({top_level(p) for p in PACKAGE.rglob("*.py")} - set(room_of))
    assert not missing, f"modules with no room in ARCHITECTURE.md: {missing}"


def violations(package_dir: Path) -> list[str]:
    room_of, allowed = rooms()
    wrong = []
    for path in sorted(package_dir.rglob("*.py")):
        room = room_of[top_level(path, package_dir)]
        for name in sorted(imports_of(path, package_dir)):
            target = room_of.get(name)
            if target is None:
                wrong.append(f"{path.relative_to(package_dir)} imports {name}, which has no room")
            elif target != room and target not in allowed[room]:
                wrong.append(f"{path.relative_to(package_dir)} ({room}) imports {name} ({target}), not in its row")
    return wrong


def test_imports_follow_the_room_table() -> None:
    wrong = violations(PACKAGE)
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The check itself can fail: a report module importing the remediation, relatively or absolutely."""
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "view.py").write_text("from ..remediate.plan import FIXABLE_RULES\n")
    (tmp_path / "report" / "sarif.py").write_text("import ams_iam_audit.pytest_plugin.run\nfrom . import view\n")
    (tmp_path / "jsonio.py").write_text("from ams_iam_audit import analysis\n")
    assert violations(tmp_path) == [
        "jsonio.py (other) imports analysis (analysis), not in its row",
        "report/sarif.py (reports) imports pytest_plugin (wiring), not in its row",
        "report/view.py (reports) imports remediate (remediation), not in its row",
    ]
