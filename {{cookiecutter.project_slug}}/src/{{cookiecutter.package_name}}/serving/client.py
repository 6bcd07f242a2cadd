"""A client's view of the service: send rows of a file to a running POST /predict and read the answers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..core import environment
from ..core.config import Config
from ..core.errors import UserError
from ..data import tables
from .champion import store_name
from .model import stored_schema

log = logging.getLogger(__name__)


def request_predictions(
    cfg: Config, url: str, input_path: Path | str, *, rows: int = 3, wait: float = 120
) -> list[dict[str, Any]]:
    """Send the first ``rows`` rows of a CSV/Parquet file to a running service's POST /predict (a client's view).

    Only the served model's feature columns are sent (a holdout file also has the target). Waits up to ``wait``
    seconds for the service to be ready.
    """
    import time

    environment.configure()
    import bentoml

    stored = bentoml.models.get(f"{store_name(cfg.tracking.model_name)}:latest")
    names = stored_schema(stored).names
    frame = tables.read_table(Path(input_path))[names].head(rows)
    records = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]
    deadline = time.monotonic() + wait
    while True:
        try:
            with bentoml.SyncHTTPClient(url, timeout=60) as client:
                if client.is_ready():
                    return client.predict(records=records)
        except Exception as error:  # not listening yet (connection refused) or still starting
            log.debug("service not ready yet: %s", error)
        if time.monotonic() > deadline:
            raise UserError(f"no service ready at {url} after {wait:.0f}s (start one with make serve)")
        time.sleep(0.5)
