"""evaluate's pictures of the holdout: DVC plot data (``make plots``) and figures (PNG, also on the MLflow run).

matplotlib draws off screen (Agg); review, which scores the champion again, does not import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ..core.metrics import TASKS
from ..core.schema import Schema

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_data(y: pd.Series, outputs: np.ndarray, schema: Schema) -> dict[str, list[dict[str, Any]]]:
    """Rows for DVC plots: confusion pairs (labels by the schema's decision rule, its threshold included), the ROC
    and precision-recall curves of a binary target's positive class; or residuals."""
    if TASKS[schema.task].has_classes:
        predicted = schema.labels(outputs)
        data: dict[str, list[dict[str, Any]]] = {
            "confusion": [{"actual": str(a), "predicted": str(p)} for a, p in zip(y, predicted, strict=True)]
        }
        if schema.positive_class is not None and len(schema.classes) == 2:
            scores = outputs[:, list(schema.classes).index(schema.positive_class)]
            fpr, tpr, _ = roc_curve(y, scores, pos_label=schema.positive_class)
            data["roc"] = [
                {"fpr": round(float(f), 6), "tpr": round(float(t), 6)} for f, t in zip(fpr, tpr, strict=True)
            ]
            precision, recall, _ = precision_recall_curve(y, scores, pos_label=schema.positive_class)
            data["pr"] = [
                {"recall": round(float(r), 6), "precision": round(float(p), 6)}
                for r, p in zip(recall[::-1], precision[::-1], strict=True)
            ]
        return data
    return {
        "residuals": [
            {"actual": float(a), "predicted": float(p), "residual": float(a - p)}
            for a, p in zip(y, outputs, strict=True)
        ]
    }


def roc_figure(y: pd.Series, scores: np.ndarray, positive: Any) -> Figure:
    """The ROC curve through its measured corners, with the AUC to four decimals (0.9954, not 1.00)."""
    fpr, tpr, _ = roc_curve(y, scores, pos_label=positive)
    auc = roc_auc_score(y == positive, scores)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot(fpr, tpr, color="tab:blue", label=f"candidate (AUC = {auc:.4f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance (AUC = 0.5)")
    _unit_square(ax, f"false positive rate (positive class: {positive})", "true positive rate", "ROC curve")
    ax.legend(loc="lower right")
    return fig


def _unit_square(ax: Any, x_label: str, y_label: str, title: str) -> None:
    """A curve's axes: both rates from 0 to 1 (a hair beyond, so the ends show), labelled, titled."""
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(f"{title} on the holdout")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)


def pr_figure(y: pd.Series, scores: np.ndarray, positive: Any, threshold: float | None) -> Figure:
    """The precision-recall curve with its average precision, the chance level (the positive share) and the two
    operating points: the tuned threshold and 0.5."""
    precision, recall, _ = precision_recall_curve(y, scores, pos_label=positive)
    actual = np.asarray(y) == positive
    ap = average_precision_score(actual, scores)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.step(recall, precision, where="post", color="tab:blue", label=f"candidate (AP = {ap:.4f})")
    share = float(actual.mean())
    ax.axhline(share, color="grey", linestyle="--", linewidth=1, label=f"chance (AP = {share:.4f}, the positive share)")
    points = [(0.5, "0.5", "tab:grey")] + ([(threshold, f"tuned {threshold:.3f}", "tab:orange")] if threshold else [])
    for cut, name, color in points:
        chosen = scores >= cut
        hits = float(np.sum(chosen & actual))
        ax.plot(hits / max(actual.sum(), 1), hits / max(chosen.sum(), 1), "o", color=color, label=f"threshold {name}")
    _unit_square(ax, f"recall (positive class: {positive})", "precision", "Precision-recall curve")
    ax.legend(loc="upper right")
    return fig


def figures(y: pd.Series, outputs: np.ndarray, schema: Schema) -> dict[str, Figure]:
    made = {}
    if TASKS[schema.task].has_classes:
        predicted = schema.labels(outputs)
        made["confusion_matrix.png"] = ConfusionMatrixDisplay.from_predictions(y, predicted).figure_
        if schema.positive_class is not None and len(schema.classes) == 2:
            scores = outputs[:, list(schema.classes).index(schema.positive_class)]
            made["roc_curve.png"] = roc_figure(y, scores, schema.positive_class)
            cut = schema.threshold.value if schema.threshold is not None else None
            made["pr_curve.png"] = pr_figure(y, scores, schema.positive_class, cut)
    else:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(outputs, y - outputs, s=10, alpha=0.6)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual (actual - predicted)")
        ax.set_title("Residuals on the holdout")
        made["residuals.png"] = fig
    return made


def save(figure: Figure, path: Any) -> None:
    """Write a figure as PNG and free it."""
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
