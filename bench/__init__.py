"""Benchmarks: each one measures trustledger against a baseline in the same run.

Run them with ``python -m bench.run [--quick] [--only NAME]``; see ``bench/README.md``
and ``docs/performance.md``. Nothing here asserts an absolute time: every figure is
reported as a ratio against a baseline measured alongside it on the same machine.
"""
