"""The package's shape: one package per part, imports that point down only, stages as wiring, light faces, and
dvc.yaml's deps equal to what each stage runs.

The parts, lowest first (DESIGN: "imports point down this list"); a part may import only parts below it:

    core < data, predictions < tracking < training < serving < monitoring < review < stages < __main__

data and predictions share a layer and do not import each other: the serving-layer database (predictions) knows
nothing of how training data is read, and the data checks nothing of served rows. tracking sits below training
because training logs to MLflow (the search's child runs, the ONNX export) while MLflow's side needs nothing of
scikit-learn; monitoring sits above serving only by the list's order: it reads the predictions package, not the
service.

DVC reruns a stage only when one of its deps changed, so a module a stage imports (directly, through another module,
through a package's face, or inside a function) that its deps do not list is a change DVC would not see: it would
reuse a stale result; and a listed module the stage never imports reruns it for nothing. The import graph is read
from the source (ast), not by importing it, so these checks are fast and need no data.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = next(d for d in (PROJECT / "src").iterdir() if (d / "__init__.py").is_file())
LAYERS = {
    "core": 0,
    "data": 1,
    "predictions": 1,
    "tracking": 2,
    "training": 3,
    "serving": 4,
    "monitoring": 5,
    "review": 6,
    "stages": 7,
    "__main__": 8,
}
# Shared by every stage and not part of what one computes: the package's docstring, the command line that
# dispatches to the stage, the stages package's own face.
ENTRY_POINTS = ("", ".__main__", ".stages")
MAX_LINES = 400
# Libraries that cost a command seconds to import: a package face must not pull one in (the modules it hands on
# import them inside the functions that need them).
HEAVY = ("mlflow", "bentoml", "great_expectations", "evidently", "sklearn", "matplotlib", "pyspark", "skl2onnx")


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


def part_of(module: str) -> str:
    """The part a module belongs to (``pkg.core.config`` -> ``core``); "" for the package's own face."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import from one part into another that is not below it, as ``importer -> imported``."""
    found = []
    for module, imported in sorted(graph.items()):
        mine = part_of(module)
        for other in sorted(imported):
            theirs = part_of(other)
            if theirs and mine and theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                found.append(f"{module} -> {other}")
    return found


def imports_into(graph: dict[str, set[str]], importer: str, parts: tuple[str, ...]) -> list[str]:
    return [
        f"{module} -> {other}"
        for module, imported in sorted(graph.items())
        if part_of(module) == importer
        for other in sorted(imported)
        if part_of(other) in parts
    ]


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


def face_problems(face: Path) -> list[str]:
    """What a package's __init__.py does besides handing names on: anything but its docstring, relative imports of
    names from its own modules, and ``__all__``."""
    problems = []
    for index, node in enumerate(ast.parse(face.read_text()).body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and (node.module == "__future__" or node.level == 1):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        problems.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0][:80]}")
    return problems


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


def _pipeline(project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """dvc.yaml's stages and the params its ``${...}`` read."""
    dvc = yaml.safe_load((project / "dvc.yaml").read_text()) or {}
    params = yaml.safe_load((project / "params.yaml").read_text()) if (project / "params.yaml").exists() else {}
    for extra in dvc.get("vars", []):
        if isinstance(extra, dict):
            params = {**(params or {}), **extra}
    return dvc.get("stages") or {}, params or {}


def _entry(cmd: Any, package: Path, graph: dict[str, set[str]]) -> str | None:
    cmd = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
    match = re.search(rf"-m\s+{re.escape(package.name)}\s+([\w-]+)", cmd)
    if match is None:
        return None
    return next((m for m in (f"{package.name}.stages.{match[1]}", f"{package.name}.{match[1]}") if m in graph), None)


def closure(graph: dict[str, set[str]], entry: str) -> set[str]:
    """Every module importing ``entry`` runs (faces included)."""
    found, todo = set(), [entry]
    while todo:
        module = todo.pop()
        if module not in found:
            found.add(module)
            todo += graph[module]
    return found


def deps_mismatch(project: Path, package: Path) -> dict[str, dict[str, list[str]]]:
    """Stage -> {"missing": package files it imports that its deps cover neither by name nor by a folder above
    them, "extra": package files or folders its deps list that hold nothing it imports}."""
    stages, params = _pipeline(project)
    graph, files = import_graph(package), modules(package)
    shared = {package.name + suffix for suffix in ENTRY_POINTS}
    found = {}
    for stage, spec in stages.items():
        entry = _entry(spec.get("cmd", ""), package, graph)
        if entry is None:
            continue
        needed = {files[m].resolve() for m in closure(graph, entry) - shared}
        deps = [
            (project / interpolate(dep if isinstance(dep, str) else next(iter(dep)), params)).resolve()
            for dep in spec.get("deps", [])
        ]
        inside = [d for d in deps if d == package.resolve() or package.resolve() in d.parents]
        missing = sorted(f for f in needed if not any(f == d or d in f.parents for d in inside))
        extra = []
        for dep in inside:
            listed = {f.resolve() for f in ([dep] if dep.suffix == ".py" else dep.rglob("*.py"))}
            unused = sorted(listed - needed - {files[m].resolve() for m in shared if m in files})
            if unused:
                extra += unused
        problems = {
            "missing": [f.relative_to(project.resolve()).as_posix() for f in missing],
            "extra": [f.relative_to(project.resolve()).as_posix() for f in sorted(set(extra))],
        }
        if problems["missing"] or problems["extra"]:
            found[stage] = problems
    return found


def test_every_stage_lists_exactly_the_package_modules_it_runs_in_its_deps() -> None:
    assert deps_mismatch(PROJECT, PACKAGE) == {}, "dvc.yaml: add the missing files to the stage's deps, drop the extra"


def test_imports_point_down_only() -> None:
    graph = import_graph(PACKAGE)
    assert {part_of(m) for m in graph} - {""} == set(LAYERS), "a part is missing from LAYERS (or LAYERS is stale)"
    assert upward_imports(graph) == []


def test_only_main_imports_stages() -> None:
    graph = import_graph(PACKAGE)
    stages = f"{PACKAGE.name}.stages"
    importers = [
        f"{module} -> {other}"
        for module, imported in sorted(graph.items())
        for other in sorted(imported)
        if other.startswith(stages + ".") and module != f"{PACKAGE.name}.__main__" and not module.startswith(stages)
    ]
    assert importers == [], "move what they need out of the stage into a part"
    within = [
        f"{module} -> {other}"
        for module, imported in sorted(graph.items())
        if module.startswith(stages + ".")
        for other in sorted(imported)
        if other.startswith(stages + ".")
    ]
    assert within == [], "a stage that another stage imports is a part in disguise"


def test_serving_never_imports_monitoring_review_or_stages() -> None:
    assert imports_into(import_graph(PACKAGE), "serving", ("monitoring", "review", "stages")) == []


def test_predictions_imports_only_core() -> None:
    graph = import_graph(PACKAGE)
    others = tuple(part for part in LAYERS if part not in ("core", "predictions"))
    assert imports_into(graph, "predictions", others) == []


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(PACKAGE))
    assert cycle is None, " -> ".join(cycle or [])


def test_every_face_only_hands_names_on() -> None:
    faces = {face.relative_to(PACKAGE).as_posix(): face_problems(face) for face in sorted(PACKAGE.rglob("__init__.py"))}
    assert len(faces) > len(LAYERS) - 2
    assert {face: problems for face, problems in faces.items() if problems} == {}


def test_importing_a_face_imports_no_heavy_library() -> None:
    faces = sorted(f"{PACKAGE.name}.{part}" for part in LAYERS if (PACKAGE / part / "__init__.py").is_file())
    code = f"import sys; import {', '.join(faces)}; print(' '.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT, check=True)
    assert done.stdout.split() == []


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by job (not by size) below {MAX_LINES} lines"


def param(key: str) -> str:
    """dvc.yaml's reference to a params.yaml path."""
    return "${paths." + key + "}"


def test_each_stage_is_handed_the_files_it_reads_and_writes() -> None:
    """stages/files.py declares each stage's files once; dvc.yaml hands exactly those over (--<key>), lists the
    writes as outs (or metrics) and the reads as deps."""
    from importlib import import_module

    declared = import_module(f"{PACKAGE.name}.stages.files").STAGES
    stages, _ = _pipeline(PROJECT)
    assert set(stages) == set(declared)
    for name, spec in stages.items():
        files = declared[name]
        cmd = " ".join(spec["cmd"]) if isinstance(spec["cmd"], list) else spec["cmd"]
        options = dict(re.findall(r"--(\w+) \$\{paths\.(\w+)\}", cmd))
        assert options == {key: key for key in files.options}, name
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in spec.get("outs", []) + spec.get("metrics", [])]
        assert sorted(outs) == sorted(param(key) for key in files.writes), name
        deps = [next(iter(d)) if isinstance(d, dict) else d for d in spec.get("deps", [])]
        assert {param(key) for key in files.reads + files.uses} <= set(deps), name


def test_the_tests_mirror_the_package_and_share_helpers_only_through_conftest() -> None:
    tests = PROJECT / "tests"
    folders = sorted(p.name for p in tests.iterdir() if p.is_dir() and p.name not in ("fixtures", "__pycache__"))
    assert set(folders) <= set(LAYERS), "a test folder that names no part of the package"
    borrowed = [
        f"{path.relative_to(tests).as_posix()} imports {node.module}"
        for path in sorted(tests.rglob("test_*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith("test_")
    ]
    assert borrowed == [], "move shared helpers to a conftest.py (or tests/helpers.py)"


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
            "unused.py": "",
        },
    )
    (tmp_path / "params.yaml").write_text("paths:\n  code: src/pkg\n")
    dvc = tmp_path / "dvc.yaml"
    # when its deps name only the stage's own file (through a params.yaml path)
    dvc.write_text("stages:\n  fit:\n    cmd: python -m pkg fit\n    deps:\n      - ${paths.code}/stages/fit.py\n")
    # then the helper, the subpackage's face and the deep module are reported
    missing = ["src/pkg/helper.py", "src/pkg/sub/__init__.py", "src/pkg/sub/deep.py"]
    assert deps_mismatch(tmp_path, package) == {"fit": {"missing": missing, "extra": []}}
    # and listing them (a folder covers what is in it) satisfies the check
    dvc.write_text(dvc.read_text() + "      - src/pkg/helper.py\n      - ${paths.code}/sub\n")
    assert deps_mismatch(tmp_path, package) == {}
    # while listing a module it never imports, or a folder holding one, is reported as extra
    dvc.write_text(dvc.read_text() + "      - src/pkg/unused.py\n")
    assert deps_mismatch(tmp_path, package) == {"fit": {"missing": [], "extra": ["src/pkg/unused.py"]}}
    (package / "sub" / "spare.py").write_text("")
    assert deps_mismatch(tmp_path, package)["fit"]["extra"] == ["src/pkg/sub/spare.py", "src/pkg/unused.py"]


def test_an_import_cycle_is_reported(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"a.py": "from . import b\n", "b.py": "def f():\n    from .a import x\n"})
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.a"]
    (package / "b.py").write_text("")
    assert find_cycle(import_graph(package)) is None


def test_an_import_up_the_layers_and_a_busy_face_are_reported(tmp_path: Path) -> None:
    # given a core module that imports serving (inside a function) and a face that defines a helper
    package = make_package(
        tmp_path,
        {
            "core/__init__.py": '"""core."""\nfrom .rules import rule\n\n__all__ = ["rule"]\n',
            "core/rules.py": "def rule():\n    from ..serving import service\n",
            "serving/__init__.py": "import os\n\ndef helper():\n    pass\n",
            "serving/service.py": "from ..core import rules\n",
        },
    )
    # then the import that runs up is named, and so is everything the serving face does besides handing names on
    assert upward_imports(import_graph(package)) == [
        "pkg.core.rules -> pkg.serving",
        "pkg.core.rules -> pkg.serving.service",
    ]
    assert face_problems(package / "core" / "__init__.py") == []
    assert face_problems(package / "serving" / "__init__.py") == ["line 1: import os", "line 3: def helper():"]


def test_the_readme_layout_names_every_module() -> None:
    readme = (PROJECT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :].split("```")[1]
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" and path.name not in layout
    ]
    assert missing == [], "README.md's layout block does not list these modules"
