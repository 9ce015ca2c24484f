"""Framework integrations: ``fastapi``, ``flask`` and ``django``.

Each module imports its framework; import the one you use. The package
itself imports nothing.
"""
