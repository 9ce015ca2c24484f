"""``python -m sessionary``: the ``sessionary`` command."""

import sys

from .cli import main

sys.exit(main())
