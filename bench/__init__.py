"""Benchmarks: figures, not tests (see README, « Performance »)."""
