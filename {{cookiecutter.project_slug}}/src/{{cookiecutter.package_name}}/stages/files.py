"""The files each stage reads and writes, by their params.yaml ``paths:`` key: declared once, here.

The command line takes them from this table (``python -m <package> <stage> --<key> PATH``; a key left off comes
from params.yaml), and a stage run by hand before its input exists names the stage that makes it. dvc.yaml hands
each stage exactly these options and lists its writes as outs and its reads as deps (tests/test_structure.py
checks both against this table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Files:
    reads: tuple[str, ...] = ()  # inputs it cannot do without: made by an earlier stage
    uses: tuple[str, ...] = ()  # inputs it reads when they are there (train's lineage, evaluate's row counts)
    writes: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        """Every path the stage touches, as its command line lists them."""
        return self.reads + self.uses + self.writes


STAGES = {
    "ingest": Files(writes=("raw",)),
    "validate": Files(reads=("raw",), writes=("validation",)),
    # prepare also reads paths.harvested when it is there: a file under `external`, which is always there (a dep
    # on the file itself would fail the pipeline until the first harvest)
    "prepare": Files(reads=("raw",), uses=("external",), writes=("train", "holdout", "features", "prepared")),
    "train": Files(reads=("train", "features"), uses=("validation",), writes=("candidate",)),
    "evaluate": Files(
        reads=("train", "holdout", "features", "candidate"),
        uses=("prepared",),
        writes=("metrics", "plots", "figures"),
    ),
    "register": Files(reads=("holdout", "features", "candidate", "metrics"), writes=("registration",)),
}
# The stage that writes each file a later stage cannot do without.
PRODUCER = {key: stage for stage, files in STAGES.items() for key in files.writes}
