"""The framework's floor: a BentoML endpoint with the same workers as the project's service that parses the same
body and does nothing else (`bentoml serve empty_service:Empty`, this folder on PYTHONPATH)."""

from typing import Any

import bentoml


@bentoml.service(name="empty", workers=2, traffic={"timeout": 60, "max_concurrency": 512})
class Empty:
    @bentoml.api
    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"prediction": 0} for _ in records]
