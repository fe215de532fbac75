"""Benchmarks: full configs on the real datasets; results are written by the run itself."""
