"""Print what `make demo` produced: the champion, its holdout metrics and where the reports are."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(project: Path) -> None:
    registration = json.loads((project / "reports" / "registration.json").read_text())
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    validation = json.loads((project / "reports" / "validation.json").read_text())
    stats = validation["statistics"]
    print(f"\nDemo project: {project.resolve()}")
    print(
        f"  champion:   {registration['model_name']} v{registration['champion_after']} "
        f"(this run registered v{registration['version']}, promoted: {registration['promoted']})"
    )
    for reason in registration["reasons"]:
        print(f"              {reason}")
    print("  holdout:    " + ", ".join(f"{k}={v:.4f}" for k, v in metrics["candidate"].items()))
    print(f"  validation: {stats['successful_expectations']}/{stats['evaluated_expectations']} expectations met")
    print(
        "  reports:    "
        + ", ".join(str(project / "reports" / n) for n in ("metrics.json", "registration.json", "plots", "figures"))
    )
    print(f"  data docs:  {project / 'gx/uncommitted/data_docs/local_site/index.html'}")
    print(f"  MLflow UI:  make -C {project} ui   (then open http://127.0.0.1:5000)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
