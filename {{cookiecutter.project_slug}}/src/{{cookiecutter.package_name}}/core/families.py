"""The model families that train.search.candidates[].family may name, and the tasks each can learn.

A table without scikit-learn, so that checking params.yaml (config.py) stays quick in the stages that never train
(validate, register, ...); training/models.py builds each family's estimators, and tests/training/test_models.py checks that the two
agree.
"""

BOTH = ("classification", "regression")
LEARNS: dict[str, tuple[str, ...]] = {  # family -> the tasks it can learn
    "logistic_regression": ("classification",),
    "ridge": ("regression",),
    "random_forest": BOTH,
    "extra_trees": BOTH,
    "hist_gradient_boosting": BOTH,
    "xgboost": BOTH,
    "dummy": BOTH,
}
