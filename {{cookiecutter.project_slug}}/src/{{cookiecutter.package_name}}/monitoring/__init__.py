"""monitoring: what the model meets in production. The monitor command (monitor.py) compares a window of served
rows (window.py) with the champion's reference (reference.py): drift (drift.py), quality (quality.py), live
metrics and the decision (live.py), reported as markdown and HTML (report.py). Ground truth comes back through
feedback.py, and harvest.py turns labelled served rows into a new version of the training data.

This face hands on the commands' modules; Evidently is imported by drift.py when it measures, never on import.
"""

from . import feedback, harvest, monitor, report

__all__ = ["feedback", "harvest", "monitor", "report"]
