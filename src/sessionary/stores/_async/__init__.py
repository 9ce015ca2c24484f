"""Store backends written once, async. ``../_sync`` is generated from here by
``scripts/unasync.py``; edit these files, never the generated ones."""
