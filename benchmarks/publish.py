"""Put a full run's results into benchmarks/: ``python -m benchmarks.publish bench-results``.

Copies the charts and the JSON next to RESULTS.md and replaces everything
below RESULTS.md's marker line with the run's Markdown; the analysis above
the marker is written by hand.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "<!-- everything below is written by: python -m benchmarks.publish DIR -->"


def publish(run: Path) -> None:
    results = HERE / "RESULTS.md"
    head = results.read_text().split(MARKER)[0] if results.exists() else "# Benchmarks\n\n"
    for name in ("cycles.png", "ratio.png", "results.json"):
        if (run / name).exists():
            shutil.copyfile(run / name, HERE / name)
    body = (run / "results.md").read_text()
    results.write_text(f"{head.rstrip()}\n\n{MARKER}\n\n{body}")


if __name__ == "__main__":
    publish(Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results"))
