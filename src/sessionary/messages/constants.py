"""Message levels and their CSS-friendly tags: Django's numbers and names."""

from __future__ import annotations

from typing import Final

__all__ = ["DEBUG", "DEFAULT_LEVEL", "DEFAULT_TAGS", "ERROR", "INFO", "SUCCESS", "WARNING"]

DEBUG: Final = 10
INFO: Final = 20
SUCCESS: Final = 25
WARNING: Final = 30
ERROR: Final = 40

DEFAULT_LEVEL: Final = INFO
"""Messages below this level are dropped unless a storage is told otherwise (Django's default)."""

DEFAULT_TAGS: Final = {
    DEBUG: "debug",
    INFO: "info",
    SUCCESS: "success",
    WARNING: "warning",
    ERROR: "error",
}
