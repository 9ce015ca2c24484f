"""``python -m benchmarks``: run the side-by-side benchmarks from a clone."""

from __future__ import annotations

import sys

from .runner import main

sys.exit(main())
