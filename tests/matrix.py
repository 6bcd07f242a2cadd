"""The option combinations the fast tests render: the render matrix, and the workflow matrix drawn from it (so that
the same bakes serve both; conftest's ``rendered`` bakes each set of answers once per run)."""

from __future__ import annotations

import itertools

from .projects import DEFAULTS


def render_combinations() -> list[dict[str, str]]:
    """Every task x training runner x DVC remote; Python version and license rotate through their choices so that
    each value appears (cookiecutter-data-science's approach)."""
    varied = ("task", "training_runner", "dvc_remote")
    rotated = {name: itertools.cycle(DEFAULTS[name]) for name in ("python_version", "license")}
    found = []
    for values in itertools.product(*(DEFAULTS[name] for name in varied)):
        combo = dict(zip(varied, values, strict=True))
        combo |= {name: next(cycle) for name, cycle in rotated.items()}
        found.append(combo)
    return found


def workflow_combinations() -> list[dict[str, str]]:
    """Every runner x DVC remote pair (what shapes the workflows), each one of the render matrix's combinations
    with the task alternating between pairs (the Python versions rotate with them), plus a project with its own
    runner labels."""
    pairs: dict[tuple[str, str], list[dict[str, str]]] = {}
    for combo in render_combinations():
        pairs.setdefault((combo["training_runner"], combo["dvc_remote"]), []).append(combo)
    combos = [both[index % len(both)] for index, both in enumerate(pairs.values())]
    combos.append(
        {
            "training_runner": "self-hosted-gpu",
            "runner_labels": "self-hosted, linux, arm64, a100, gpu-large",
            "pr_runner_labels": "self-hosted, linux, arm64, a100, pr-gpu",
        }
    )
    return combos


def combo_id(answers: dict[str, str]) -> str:
    """A workflow combination's name: its runner and remote (and whether it has its own labels)."""
    return "-".join(answers.get(k, "") for k in ("training_runner", "dvc_remote")).strip("-") + (
        "-custom-labels" if "runner_labels" in answers else ""
    )


def labels_of(answers: dict[str, str], pool: str = "trusted") -> set[str]:
    """The labels of the trusted pool (main's jobs) or of the untrusted pool (pull requests) for these answers."""
    kind = {"self-hosted-cpu": "cpu", "self-hosted-gpu": "gpu"}.get(answers["training_runner"])
    key, tag = ("runner_labels", "trusted") if pool == "trusted" else ("pr_runner_labels", "pr")
    default = f"self-hosted, linux, x64, {kind}, {tag}" if kind else "ubuntu-24.04"
    return {label.strip() for label in answers.get(key, default).split(",")}
