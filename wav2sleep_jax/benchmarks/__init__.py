"""Benchmarks (data preparation and reading)."""
