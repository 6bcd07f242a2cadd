"""evaluate: score the candidate and the current champion on the same holdout.

When the champion was trained on another feature schema or task, it is not scored: its ``champion`` section
names the change instead (``schema_change``), for the gate's rule (gate.py). ``baseline`` holds the scores of a
model that ignores the features (training prior or mean), which the gate's candidate must beat.

Writes reports/metrics.json (a DVC metric: ``candidate``, ``champion`` and ``baseline`` sections), DVC plot data under
reports/plots/ and figures under reports/figures/, and logs the holdout metrics and figures to the
candidate's MLflow run.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, roc_auc_score, roc_curve

from .. import features, gate, metrics, tracking
from ..config import Config

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


def score(
    model: Any, X: pd.DataFrame | np.ndarray, y: pd.Series, schema: features.Schema
) -> tuple[dict[str, float], np.ndarray]:
    """Holdout metrics, plus the class probabilities (classification) or predictions (regression)."""
    from ..models import threads_for  # scikit-learn's estimators: loading the model imports them anyway

    with threads_for(len(X)):
        return metrics.TASKS[schema.task].score(model, X, y)


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


def champion_metrics(
    cfg: Config, client: MlflowClient, X: pd.DataFrame, y: pd.Series, schema: features.Schema
) -> dict[str, Any] | None:
    """The champion's metrics on this holdout; its schema change instead when it was trained on other features or
    another task; None when there is no champion yet."""
    import mlflow

    version = tracking.version_by_alias(client, cfg.tracking.model_name, tracking.CHAMPION)
    if version is None:
        return None
    uri = f"models:/{cfg.tracking.model_name}/{version.version}"
    try:
        model = mlflow.sklearn.load_model(uri)
        theirs = tracking.version_schema(version, uri, model)
    except Exception as error:  # a champion that cannot be loaded cannot be compared; the gate says so
        log.warning("champion version %s could not be loaded: %s", version.version, error)
        return {"version": int(version.version), "error": str(error)}
    change = gate.schema_change(theirs.to_dict(), schema.to_dict())
    if change:
        log.warning("champion version %s has another schema: %s", version.version, change.describe())
        return {"version": int(version.version), "schema_change": change.as_dict()}
    try:
        found, _ = score(model, X, y, schema)
    except Exception as error:
        log.warning("champion version %s could not be scored on this holdout: %s", version.version, error)
        return {"version": int(version.version), "error": str(error)}
    return {"version": int(version.version), **found}


def baseline_metrics(train: pd.DataFrame, X: pd.DataFrame, y: pd.Series, schema: features.Schema) -> dict[str, float]:
    """A model that ignores the features (the training classes' prior, or the training mean) on the holdout."""
    dummy = metrics.TASKS[schema.task].baseline()
    dummy.fit(np.zeros((len(train), 1)), train[schema.target])
    found, _ = score(dummy, np.zeros((len(X), 1)), y, schema)
    return found


def run(cfg: Config) -> dict[str, Any]:
    import mlflow

    paths = cfg.paths
    candidate = json.loads(paths.candidate.read_text())
    schema = features.Schema.load(paths.features)
    test = pd.read_parquet(paths.holdout)
    X, y = features.conform(test, schema), test[schema.target]
    client = tracking.configure(cfg.tracking)

    model = mlflow.sklearn.load_model(candidate["model_uri"])
    found, outputs = score(model, X, y, schema)
    classes = np.asarray(model.classes_) if metrics.TASKS[schema.task].has_classes else None
    report = {
        "candidate": found,
        "champion": champion_metrics(cfg, client, X, y, schema),
        "baseline": baseline_metrics(pd.read_parquet(paths.train), X, y, schema),
        "holdout_rows": len(X),
    }

    paths.metrics.parent.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(report, indent=2) + "\n")
    paths.plots.mkdir(parents=True, exist_ok=True)
    for name, rows in plot_data(y, outputs, classes).items():
        (paths.plots / f"{name}.json").write_text(json.dumps(rows) + "\n")
    paths.figures.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_id=candidate["run_id"]):
        tracking.log_dataset(test, paths.holdout, "holdout", target=schema.target)
        mlflow.log_metrics({f"test_{k}": v for k, v in found.items()})
        if paths.prepared.exists():  # prepare's row counts (duplicates removed)
            mlflow.log_metrics({f"prepare_{k}": v for k, v in json.loads(paths.prepared.read_text()).items()})
        for name, figure in figures(y, outputs, classes).items():
            figure.savefig(paths.figures / name, dpi=100, bbox_inches="tight")
            plt.close(figure)
            mlflow.log_artifact(str(paths.figures / name), "evaluation")  # the same file: drawn once, not twice
    champion = report["champion"]
    log.info("holdout: candidate %s; champion %s", found, champion or "none yet")
    return report
