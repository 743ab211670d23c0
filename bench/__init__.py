"""Benchmarks: each prints its figures and its ratio to a reference measured in the same run."""
