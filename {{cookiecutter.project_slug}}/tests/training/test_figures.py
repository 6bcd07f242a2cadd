"""The figures a training run logs: the search's trials on an axis that fits them, the ROC curve with its AUC."""

from __future__ import annotations

import matplotlib.pyplot
import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.training import figures, search, search_logging


def test_the_search_plot_axis_fits_the_scores() -> None:
    # given eight trials whose scores differ only in the third decimal
    trials = [search.Trial("logistic_regression", {"C": c}) for c in range(8)]
    results = [search.TrialResult(t, 0.991 + i * 0.0007, 0.001, 1.0, []) for i, t in enumerate(trials)]
    figure = search_logging.search_figure(search.SearchResult("roc_auc", results, 8.0, False))
    # then the axis spans the scores, not 0..1
    low, high = figure.axes[0].get_xlim()
    assert 0.98 < low < 0.991 and 0.996 < high < 1.0
    matplotlib.pyplot.close(figure)


def test_the_roc_legend_shows_four_decimals() -> None:
    y = pd.Series([0, 0, 1, 1, 0, 1, 1, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.7, 0.6, 0.65, 0.95])
    figure = figures.roc_figure(y, scores, 1)
    legend = figure.axes[0].get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "candidate (AUC = 0.9167)"
    matplotlib.pyplot.close(figure)
