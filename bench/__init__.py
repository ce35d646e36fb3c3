"""Benchmarks of the API against a hand-written floor (see docs/performance.md)."""
