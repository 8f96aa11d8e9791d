"""The handler package's shape: no import circle among its modules, docs/architecture.md true to it,
and tests/unit/ its mirror (one ``test_<module>.py`` per module)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

HANDLER = Path(__file__).resolve().parents[2] / "handler"


def handler_modules() -> dict[str, Path]:
    """Every module of the handler package by dotted name (packages by their ``__init__``)."""
    modules = {}
    for path in HANDLER.rglob("*.py"):
        parts = path.relative_to(HANDLER.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The handler modules ``path`` imports anywhere: at the top, in functions, under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from handler import api_description`` imports a module; ``from handler.x import y`` x.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found.update(name for name in names if name in modules and name != "handler")
    return found


def import_circles() -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    modules = handler_modules()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in graph[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == name:
                    break
            if len(group) > 1 or name in graph[name]:
                circles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return circles


def test_no_import_circle_in_handler() -> None:
    assert import_circles() == []


def test_the_circle_finder_finds_a_circle(tmp_path: Path) -> None:
    """The check can fail: two modules importing each other are one circle."""
    package = tmp_path / "handler"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from handler.b import x\n")
    (package / "b.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from handler import a\n")
    (package / "c.py").write_text("from handler.a import y\n")
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(__import__(__name__, fromlist=["HANDLER"]), "HANDLER", package)
        assert import_circles() == [["handler.a", "handler.b"]]


ARCHITECTURE = HANDLER.parent / "docs" / "architecture.md"


def documented_modules() -> set[str]:
    """The modules docs/architecture.md's module table names (its second column), as paths."""
    names: set[str] = set()
    for line in ARCHITECTURE.read_text().splitlines():
        cells = line.split("|")
        if len(cells) > 3 and "`" in cells[2]:
            names.update(re.findall(r"`([\w/]+\.py)`", cells[2]))
    return names


def test_the_architecture_table_lists_every_handler_module_and_only_those() -> None:
    modules = {str(path.relative_to(HANDLER)) for path in HANDLER.rglob("*.py") if path.name != "__init__.py"}
    assert documented_modules() == modules


UNIT_TESTS = Path(__file__).resolve().parent


def modules_without_unit_tests(handler: Path, unit_tests: Path) -> list[str]:
    """The handler modules with no ``test_<module>.py`` at the same place under tests/unit/."""
    missing = []
    for path in sorted(handler.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(handler)
        if not (unit_tests / relative.parent / f"test_{relative.name}").is_file():
            missing.append(str(relative))
    return missing


def test_every_handler_module_has_its_unit_test_file() -> None:
    assert modules_without_unit_tests(HANDLER, UNIT_TESTS) == []


def test_the_mirror_check_names_a_module_without_its_test_file(tmp_path: Path) -> None:
    (tmp_path / "handler" / "lti").mkdir(parents=True)
    (tmp_path / "unit" / "lti").mkdir(parents=True)
    for module in ("__init__.py", "a.py", "b.py", "lti/__init__.py", "lti/c.py", "lti/d.py"):
        (tmp_path / "handler" / module).write_text("")
    for test in ("test_a.py", "lti/test_c.py", "test_d.py"):  # d's test at the wrong depth
        (tmp_path / "unit" / test).write_text("")

    assert modules_without_unit_tests(tmp_path / "handler", tmp_path / "unit") == ["b.py", "lti/d.py"]
