"""Sync store backends, GENERATED from ``../_async`` by scripts/unasync.py."""
