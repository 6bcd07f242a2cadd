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
from sklearn.metrics import ConfusionMatrixDisplay, roc_auc_score, roc_curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_data(y: pd.Series, outputs: np.ndarray, classes: np.ndarray | None) -> dict[str, list[dict[str, Any]]]:
    """Rows for DVC plots: confusion pairs and the ROC curve, or residuals."""
    if classes is not None:  # classification: the model's classes
        predicted = classes[np.argmax(outputs, axis=1)]
        data: dict[str, list[dict[str, Any]]] = {
            "confusion": [{"actual": str(a), "predicted": str(p)} for a, p in zip(y, predicted, strict=True)]
        }
        if len(classes) == 2:
            fpr, tpr, _ = roc_curve(y, outputs[:, 1], pos_label=classes[1])
            data["roc"] = [
                {"fpr": round(float(f), 6), "tpr": round(float(t), 6)} for f, t in zip(fpr, tpr, strict=True)
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
    ax.set_xlabel(f"false positive rate (positive class: {positive})")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve on the holdout")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.legend(loc="lower right")
    return fig


def figures(y: pd.Series, outputs: np.ndarray, classes: np.ndarray | None) -> dict[str, Figure]:
    made = {}
    if classes is not None:  # classification: the model's classes
        predicted = classes[np.argmax(outputs, axis=1)]
        made["confusion_matrix.png"] = ConfusionMatrixDisplay.from_predictions(y, predicted).figure_
        if len(classes) == 2:
            made["roc_curve.png"] = roc_figure(y, outputs[:, 1], classes[1])
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
