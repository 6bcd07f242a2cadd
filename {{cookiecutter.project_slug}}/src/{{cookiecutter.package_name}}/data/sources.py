"""Where the raw table comes from (params.yaml ``ingest``): a dataset bundled with scikit-learn, or a CSV/Parquet file
under data/external/ (DVC-tracked), every column kept: ``drop_columns`` are left out by validate and prepare
(``validated``), after prepare judged duplicates on the whole row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.config import Ingest
from ..core.errors import MissingFile, UserError
from .tables import read_table


def load_sklearn(name: str, target: str) -> pd.DataFrame:
    """A dataset bundled with scikit-learn (no download), with the target under ``target``."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target}) if "target" in bunch.frame else bunch.frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    return frame


def _source(path: Path, delimiter: str) -> pd.DataFrame:
    if not path.exists():
        raise MissingFile(f"{path} does not exist (ingest.source in params.yaml)")
    return read_table(path, delimiter)


def load(ingest: Ingest) -> pd.DataFrame:
    """The raw table named by params.yaml, every column kept (``drop_columns`` are checked to exist)."""
    frame = (
        load_sklearn(ingest.sklearn_dataset, ingest.target)
        if ingest.sklearn_dataset
        else _source(Path(ingest.source), ingest.delimiter)
    )
    if ingest.target not in frame.columns:
        raise UserError(
            f"target column {ingest.target!r} (ingest.target) is not in {ingest.source}; its columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    if len(frame) == 0:
        raise UserError(f"{ingest.source} has a header but no rows")
    unknown = [c for c in ingest.drop_columns if c not in frame.columns]
    if unknown:
        raise UserError(f"ingest.drop_columns names column(s) not in the data: {', '.join(unknown)}")
    return frame


def validated(raw: pd.DataFrame, ingest: Ingest) -> pd.DataFrame:
    """The columns the suite checks and prepare may use: the raw table without ``ingest.drop_columns``."""
    return raw.drop(columns=[c for c in ingest.drop_columns if c in raw.columns])
