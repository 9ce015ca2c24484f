"""Side-by-side benchmarks: sessionary against the raw drivers and the peer frameworks.

Run them with ``python -m benchmarks`` from a clone (see ``runner.py``); each case runs in a
fresh process (``worker.py``) so no case warms another's caches or pools, and the cases
compared take their timed runs in interleaved rounds, so that they saw the same machine.
"""
