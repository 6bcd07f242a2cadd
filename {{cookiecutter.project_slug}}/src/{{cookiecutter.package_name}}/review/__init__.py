"""review: the pull-request report. facts.py gathers (git, dvc.lock, the registry), charts.py draws (Mermaid),
render.py writes the markdown, report.py runs it with the quality gate as a dry run."""

from .facts import run_url
from .report import run

__all__ = ["run", "run_url"]
