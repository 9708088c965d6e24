"""Side-by-side speed and memory figures of reqfin-async: ``python -m benchmarks [--quick]``."""
