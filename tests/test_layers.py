"""The code's layers, read from its imports (those inside functions included): the domain
(``cryptogroups/``) imports nothing from the API (``api/``) but in the root URLconf, and no
modules of the API import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module the file imports, as absolute dotted names (``from x import y`` counts as
    x, and as x.y when that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def package_files(package: str) -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def test_the_domain_imports_nothing_from_the_api():
    offenders = {
        name: sorted(i for i in imports_of(path) if i == "api" or i.startswith("api."))
        for name, path in package_files("cryptogroups").items()
        if name != "cryptogroups.urls"  # the root URLconf mounts the API
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def circles_in(package: str) -> list[list[str]]:
    """The import circles among the package's modules, each as a path of module names."""
    files = package_files(package)
    graph = {
        name: {i for i in imports_of(path) if i in files} - {name} for name, path in files.items()
    }
    circles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return circles


def test_no_modules_of_the_api_import_each_other_in_a_circle():
    assert circles_in("api") == []


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def later():\n    from .b import thing\n")
    (package / "b.py").write_text("from . import a\nthing = 1\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert circles_in("pkg") == [["pkg.a", "pkg.b", "pkg.a"]]
