"""The package's shape: dvc.yaml's deps cover what each stage runs, no import cycle, serving/ has a plain face.

DVC reruns a stage only when one of its deps changed, so a module a stage imports (directly, through another module,
or inside a function) but its deps do not list is a change DVC would not see: it would reuse a stale result. The
import graph is read from the source (ast), not by importing it, so these checks are fast and need no data.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = next(d for d in (PROJECT / "src").iterdir() if (d / "__init__.py").is_file())
# Shared by every stage and not part of what one computes: the package's docstring, the command line that
# dispatches to the stage, the stages package's own face.
ENTRY_POINTS = ("", ".__main__", ".stages")


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package's name is its __init__.py)."""
    root = package.parent
    found = {}
    for path in sorted(package.rglob("*.py")):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source (function bodies included), with the
    packages Python runs on the way (importing a.b.c runs a/__init__.py and a/b/__init__.py first)."""
    base = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets.add(target)
            targets |= {f"{target}.{alias.name}" for alias in node.names}
    with_parents = set(targets)
    for target in targets:
        parts = target.split(".")
        with_parents |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return {m for m in with_parents if m in known and m != name}


def import_graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (a -> b -> a), or None. A package importing its own modules (and they it, for
    their parent package) is how packages work, not a cycle."""

    def related(a: str, b: str) -> bool:
        return a.startswith(b + ".") or b.startswith(a + ".")

    path: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        for other in sorted(graph[module]):
            if related(module, other):
                continue
            if other in path:
                return [*path[path.index(other) :], other]
            if other not in done and (cycle := visit(other)):
                return cycle
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return None


def interpolate(text: str, params: dict[str, Any]) -> str:
    """DVC's ``${a.b}`` templating, from params.yaml (and dvc.yaml's own ``vars``)."""

    def look_up(match: re.Match[str]) -> str:
        value: Any = params
        for key in match.group(1).strip().split("."):
            if not isinstance(value, dict) or key not in value:
                raise KeyError(f"dvc.yaml uses the variable {match.group(1)!r}, which params.yaml does not define")
            value = value[key]
        return str(value)

    return re.sub(r"\$\{([^}]+)\}", look_up, text)


def uncovered(project: Path, package: Path) -> dict[str, list[str]]:
    """Stage -> the package files it imports that its deps cover neither by name nor by a folder above them."""
    dvc = yaml.safe_load((project / "dvc.yaml").read_text()) or {}
    params = yaml.safe_load((project / "params.yaml").read_text()) if (project / "params.yaml").exists() else {}
    for extra in dvc.get("vars", []):
        if isinstance(extra, dict):
            params = {**(params or {}), **extra}
    graph, files = import_graph(package), modules(package)
    shared = {package.name + suffix for suffix in ENTRY_POINTS}
    found = {}
    for stage, spec in (dvc.get("stages") or {}).items():
        cmd = spec.get("cmd", "")
        cmd = " ".join(cmd) if isinstance(cmd, list) else cmd
        match = re.search(rf"-m\s+{re.escape(package.name)}\s+([\w-]+)", cmd)
        if match is None:
            continue
        entry = next(
            (m for m in (f"{package.name}.stages.{match[1]}", f"{package.name}.{match[1]}") if m in graph), None
        )
        if entry is None:
            continue
        closure, todo = set(), [entry]
        while todo:
            module = todo.pop()
            if module not in closure:
                closure.add(module)
                todo += graph[module]
        deps = [
            (project / interpolate(dep if isinstance(dep, str) else next(iter(dep)), params)).resolve()
            for dep in spec.get("deps", [])
        ]
        missing = [
            files[m].relative_to(project).as_posix()
            for m in sorted(closure - shared)
            if not any(files[m].resolve() == dep or dep in files[m].resolve().parents for dep in deps)
        ]
        if missing:
            found[stage] = missing
    return found


def test_every_stage_lists_the_package_modules_it_runs_in_its_deps() -> None:
    assert uncovered(PROJECT, PACKAGE) == {}, "add these files to the stage's deps in dvc.yaml"


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, " -> ".join(cycle or [])


def test_serving_init_only_hands_names_on() -> None:
    face = PACKAGE / "serving" / "__init__.py"
    defined = [
        node.name
        for node in ast.parse(face.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert defined == [], f"serving/__init__.py defines {defined}: move them to a module and re-export them"


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "src" / "pkg"
    for name, text in {"__init__.py": "", "stages/__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_a_module_imported_through_another_and_missing_from_deps_is_reported(tmp_path: Path) -> None:
    # given a stage that imports a helper inside a function, which imports a second one
    package = make_package(
        tmp_path,
        {
            "stages/fit.py": "def run():\n    from .. import helper\n",
            "helper.py": "from .sub import deep\n",
            "sub/__init__.py": "",
            "sub/deep.py": "",
        },
    )
    (tmp_path / "params.yaml").write_text("paths:\n  code: src/pkg\n")
    dvc = tmp_path / "dvc.yaml"
    # when its deps name only the stage's own file (through a params.yaml path)
    dvc.write_text("stages:\n  fit:\n    cmd: python -m pkg fit\n    deps:\n      - ${paths.code}/stages/fit.py\n")
    # then the helper, the subpackage's face and the deep module are reported
    assert uncovered(tmp_path, package) == {
        "fit": ["src/pkg/helper.py", "src/pkg/sub/__init__.py", "src/pkg/sub/deep.py"]
    }
    # and listing them (a folder covers what is in it) satisfies the check
    dvc.write_text(dvc.read_text() + "      - src/pkg/helper.py\n      - ${paths.code}/sub\n")
    assert uncovered(tmp_path, package) == {}


def test_an_import_cycle_is_reported(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n"})
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.a"]
    (package / "b.py").write_text("")
    assert find_cycle(import_graph(package)) is None


def test_the_readme_layout_names_every_module() -> None:
    readme = (PROJECT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :].split("```")[1]
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" and path.name not in layout
    ]
    assert missing == [], "README.md's layout block does not list these modules"
