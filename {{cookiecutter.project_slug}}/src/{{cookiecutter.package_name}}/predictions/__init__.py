"""predictions: the serving-layer database that the service and the batch jobs write and monitoring reads, without
BentoML: the schema and the connection (database.py), writes (store.py), the one background writer (writer.py),
reads (queries.py), and ground truth checked before it is stored (labels.py). It imports only core.
"""

from .database import BATCH, ONLINE, connect, now, redacted
from .writer import Writer

__all__ = ["BATCH", "ONLINE", "Writer", "connect", "now", "redacted"]
