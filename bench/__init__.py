"""Benchmarks: one module per area (``bench/<area>.py`` with ``run(scale) -> rows``); ``python -m bench``."""
