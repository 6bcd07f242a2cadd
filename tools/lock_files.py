"""Re-resolve the generated projects' lock files: one per training-runner kind and DVC remote.

    make lock      (runs this with the template's venv)

Each lock is what `make lock` in a generated project would write for that combination: the GPU answer adds
XGBoost, a cloud DVC remote adds its DVC plugin, and every lock holds the pinned build backend (pyproject's
`[build-system] requires`), all with their hashes (`make setup` installs with `--require-hashes`). The
post-generation hook keeps the one that matches. `requirements-uv.lock` pins uv itself, with its hashes, at the
generated Makefile's UV_VERSION. `deploy/tracking/requirements.lock` is what the tracking server's image installs.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from jinja2 import Environment

TEMPLATE = Path(__file__).resolve().parents[1]
PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
RUNNERS = {"cpu": "self-hosted-cpu", "gpu": "self-hosted-gpu"}
REMOTES = ("local", "s3", "gs", "azure")
PYTHON = "3.11"


def render_pyproject(runner: str, remote: str) -> str:
    context = {
        "project_slug": "my-mlops-project",
        "package_name": "my_mlops_project",
        "description": "lock",
        "author_name": "lock",
        "author_email": "lock@example.com",
        "license": "MIT",
        "python_version": PYTHON,
        "training_runner": runner,
        "dvc_remote": remote,
    }
    return Environment().from_string((PROJECT / "pyproject.toml").read_text()).render(cookiecutter=context)


def lock(kind: str, remote: str, out_dir: Path) -> Path:
    extras = ["dev", "server", "gpu"] if kind == "gpu" else ["dev", "server"]
    target = out_dir / f"{kind}-{remote}.lock"
    with tempfile.TemporaryDirectory() as tmp:
        pyproject = Path(tmp) / "pyproject.toml"
        pyproject.write_text(render_pyproject(RUNNERS[kind], remote))
        build = Path(tmp) / "build-requirements.txt"
        build.write_text("\n".join(tomllib.loads(pyproject.read_text())["build-system"]["requires"]) + "\n")
        command = [
            "uv",
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--generate-hashes",
            "--python-version",
            PYTHON,
            "--no-header",
            "--no-annotate",
            "--no-emit-package",
            "my-mlops-project",
            str(pyproject),
            str(build),
            "-o",
            str(target),
        ]
        for extra in extras:
            command += ["--extra", extra]
        subprocess.run(command, check=True)
    return target


def uv_version() -> str:
    found = re.search(r"^UV_VERSION := (\S+)$", (PROJECT / "Makefile").read_text(), flags=re.MULTILINE)
    if found is None:
        sys.exit("the generated Makefile has no `UV_VERSION := x.y.z` line")
    return found[1]


def lock_uv() -> Path:
    target = PROJECT / "requirements-uv.lock"
    subprocess.run(
        [
            "uv",
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--generate-hashes",
            "--no-header",
            "--no-annotate",
            "-",
            "-o",
            str(target),
        ],
        input=f"uv=={uv_version()}\n",
        text=True,
        check=True,
    )
    return target


def lock_spark(base: Path, target: Path) -> Path:
    """requirements-spark.lock: only the `spark` extra's own lines (pyspark, py4j), resolved within ``base`` so
    that `make setup-spark` adds them to any variant's environment without moving a locked version."""
    extra = tomllib.loads(render_pyproject("self-hosted-cpu", "local"))["project"]["optional-dependencies"]["spark"]
    with tempfile.TemporaryDirectory() as tmp:
        wanted = Path(tmp) / "spark.in"
        wanted.write_text("\n".join(extra) + "\n")
        command = [
            "uv",
            "pip",
            "compile",
            "--quiet",
            "--universal",
            "--python-version",
            PYTHON,
            "--no-header",
            "--no-annotate",
            "--generate-hashes",
            "-c",
            str(base),
            str(wanted),
            "-o",
            str(target),
        ]
        subprocess.run(command, check=True)
    return target


def lock_tracking(base: Path, target: Path) -> Path:
    """deploy/tracking/requirements.lock, what the tracking server's image installs with --require-hashes: the
    project's dependencies with its `server` and `tracking` (boto3) extras and the build backend, resolved within
    ``base`` so that what the two share has the same versions. The base is the s3 lock: boto3's botocore needs
    python-dateutil<3, which the s3 lock holds and the local lock (python-dateutil 4) does not."""
    with tempfile.TemporaryDirectory() as tmp:
        pyproject = Path(tmp) / "pyproject.toml"
        pyproject.write_text(render_pyproject("self-hosted-cpu", "local"))
        build = Path(tmp) / "build-requirements.txt"
        build.write_text("\n".join(tomllib.loads(pyproject.read_text())["build-system"]["requires"]) + "\n")
        command = ["uv", "pip", "compile", "--quiet", "--universal", "--generate-hashes", "--python-version", PYTHON]
        command += ["--no-header", "--no-annotate", "--no-emit-package", "my-mlops-project"]
        command += ["--extra", "server", "--extra", "tracking", "-c", str(base), str(pyproject), str(build)]
        subprocess.run([*command, "-o", str(target)], check=True)
    return target


def main() -> None:
    out_dir = PROJECT / "_locks"
    out_dir.mkdir(exist_ok=True)
    print(f"locked {lock_uv().relative_to(TEMPLATE)}", file=sys.stderr)
    for kind in RUNNERS:
        for remote in REMOTES:
            print(f"locked {lock(kind, remote, out_dir).relative_to(TEMPLATE)}", file=sys.stderr)
    spark = lock_spark(out_dir / "cpu-local.lock", PROJECT / "requirements-spark.lock")
    print(f"locked {spark.relative_to(TEMPLATE)}", file=sys.stderr)
    tracking = lock_tracking(out_dir / "cpu-s3.lock", PROJECT / "deploy" / "tracking" / "requirements.lock")
    print(f"locked {tracking.relative_to(TEMPLATE)}", file=sys.stderr)


if __name__ == "__main__":
    main()
